package target

import (
	"github.com/mirrord-go/mirrord/agent/protocol"
	"golang.org/x/sys/unix"
)

// archStat fills x86_64's struct stat (nlink before mode, 64-bit blksize).
func archStat(st protocol.FileStat) unix.Stat_t {
	return unix.Stat_t{
		Dev: st.Dev, Ino: st.Ino, Nlink: st.Nlink, Mode: st.Mode, Uid: st.UID, Gid: st.GID,
		Rdev: st.Rdev, Size: st.Size, Blksize: st.Blksize, Blocks: st.Blocks,
		Atim: timespec(st.Atime), Mtim: timespec(st.Mtime), Ctim: timespec(st.Ctime),
	}
}
