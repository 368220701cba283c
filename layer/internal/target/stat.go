package target

import (
	"unsafe"

	"github.com/mirrord-go/mirrord/agent/protocol"
	"golang.org/x/sys/unix"
)

// Statx renders st as struct statx, which has one layout on every arch.
func Statx(st protocol.FileStat) []byte {
	var x unix.Statx_t
	x.Mask = unix.STATX_BASIC_STATS
	x.Blksize = uint32(st.Blksize)
	x.Nlink = uint32(st.Nlink)
	x.Uid, x.Gid = st.UID, st.GID
	x.Mode = uint16(st.Mode)
	x.Ino = st.Ino
	x.Size = uint64(st.Size)
	x.Blocks = uint64(st.Blocks)
	x.Atime = statxTime(st.Atime)
	x.Mtime = statxTime(st.Mtime)
	x.Ctime = statxTime(st.Ctime)
	x.Rdev_major, x.Rdev_minor = unix.Major(st.Rdev), unix.Minor(st.Rdev)
	x.Dev_major, x.Dev_minor = unix.Major(st.Dev), unix.Minor(st.Dev)
	return append([]byte(nil), unsafe.Slice((*byte)(unsafe.Pointer(&x)), unsafe.Sizeof(x))...)
}

func statxTime(ns int64) unix.StatxTimestamp {
	return unix.StatxTimestamp{Sec: ns / 1e9, Nsec: uint32(ns % 1e9)}
}

// Stat renders st as this arch's struct stat (see stat_<arch>.go).
func Stat(st protocol.FileStat) []byte {
	s := archStat(st)
	return append([]byte(nil), unsafe.Slice((*byte)(unsafe.Pointer(&s)), unsafe.Sizeof(s))...)
}

func timespec(ns int64) unix.Timespec { return unix.NsecToTimespec(ns) }
