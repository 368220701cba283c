package target

import (
	"github.com/mirrord-go/mirrord/agent/protocol"
	"golang.org/x/sys/unix"
)

// archStat fills arm64's (generic) struct stat (32-bit nlink and blksize).
func archStat(st protocol.FileStat) unix.Stat_t {
	return unix.Stat_t{
		Dev: st.Dev, Ino: st.Ino, Nlink: uint32(st.Nlink), Mode: st.Mode, Uid: st.UID, Gid: st.GID,
		Rdev: st.Rdev, Size: st.Size, Blksize: int32(st.Blksize), Blocks: st.Blocks,
		Atim: timespec(st.Atime), Mtim: timespec(st.Mtime), Ctim: timespec(st.Ctime),
	}
}
