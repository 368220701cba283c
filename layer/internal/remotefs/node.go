package remotefs

import (
	"context"
	"path"
	"sync"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/mirrord-go/mirrord/agent/protocol"
)

// node is one remote path. go-fuse keeps the tree of nodes by name, so a
// node's remote path is its path from the root.
type node struct {
	fs.Inode
	fs *FS
}

var (
	_ fs.NodeLookuper   = (*node)(nil)
	_ fs.NodeGetattrer  = (*node)(nil)
	_ fs.NodeSetattrer  = (*node)(nil)
	_ fs.NodeOpener     = (*node)(nil)
	_ fs.NodeCreater    = (*node)(nil)
	_ fs.NodeReader     = (*node)(nil)
	_ fs.NodeWriter     = (*node)(nil)
	_ fs.NodeReleaser   = (*node)(nil)
	_ fs.NodeFlusher    = (*node)(nil)
	_ fs.NodeFsyncer    = (*node)(nil)
	_ fs.NodeReaddirer  = (*node)(nil)
	_ fs.NodeReadlinker = (*node)(nil)
)

func (n *node) remotePath() string { return "/" + n.Path(nil) }

func (n *node) child(name string) string { return path.Join(n.remotePath(), name) }

func (n *node) newChild(ctx context.Context, st protocol.FileStat, out *fuse.EntryOut) *fs.Inode {
	fillAttr(&out.Attr, st)
	return n.NewInode(ctx, &node{fs: n.fs}, fs.StableAttr{Mode: st.Mode & syscall.S_IFMT, Ino: inodeNumber(st)})
}

func (n *node) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	var st protocol.FileStat
	if e := n.fs.call(ctx, protocol.KindStat, protocol.StatRequest{Path: n.child(name), NoFollow: true}, &st); e != 0 {
		return nil, e
	}
	return n.newChild(ctx, st, out), 0
}

func (n *node) Getattr(ctx context.Context, fh fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	req := protocol.StatRequest{Path: n.remotePath(), NoFollow: true}
	if h, ok := fh.(*handle); ok {
		req = protocol.StatRequest{Handle: h.id}
	}
	var st protocol.FileStat
	if e := n.fs.call(ctx, protocol.KindStat, req, &st); e != 0 {
		return e
	}
	fillAttr(&out.Attr, st)
	return 0
}

// Setattr supports what open(O_TRUNC) and ftruncate(fd, 0) need; mode,
// owner and time changes are not in the agent's protocol and are ignored,
// as on file systems that do not store them.
func (n *node) Setattr(ctx context.Context, fh fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if size, ok := in.GetSize(); ok {
		if size != 0 {
			return syscall.EOPNOTSUPP
		}
		var or protocol.OpenResponse
		if e := n.fs.call(ctx, protocol.KindOpen, protocol.OpenRequest{Path: n.remotePath(), Flags: syscall.O_WRONLY | syscall.O_TRUNC}, &or); e != 0 {
			return e
		}
		n.fs.call(context.WithoutCancel(ctx), protocol.KindClose, protocol.CloseRequest{Handle: or.Handle}, nil)
		if h, ok := fh.(*handle); ok {
			h.drop()
		}
	}
	return n.Getattr(ctx, fh, out)
}

func (n *node) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	var or protocol.OpenResponse
	if e := n.fs.call(ctx, protocol.KindOpen, protocol.OpenRequest{Path: n.remotePath(), Flags: int(flags)}, &or); e != 0 {
		return nil, 0, e
	}
	return &handle{fs: n.fs, id: or.Handle}, 0, 0
}

func (n *node) Create(ctx context.Context, name string, flags, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	var or protocol.OpenResponse
	req := protocol.OpenRequest{Path: n.child(name), Flags: int(flags) | syscall.O_CREAT, Mode: mode}
	if e := n.fs.call(ctx, protocol.KindOpen, req, &or); e != 0 {
		return nil, nil, 0, e
	}
	return n.newChild(ctx, or.Stat, out), &handle{fs: n.fs, id: or.Handle}, 0, 0
}

func (n *node) Read(ctx context.Context, fh fs.FileHandle, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	h, ok := fh.(*handle)
	if !ok {
		return nil, syscall.EBADF
	}
	b, e := h.read(ctx, dest, off)
	if e != 0 {
		return nil, e
	}
	return fuse.ReadResultData(b), 0
}

func (n *node) Write(ctx context.Context, fh fs.FileHandle, data []byte, off int64) (uint32, syscall.Errno) {
	h, ok := fh.(*handle)
	if !ok {
		return 0, syscall.EBADF
	}
	h.drop()
	var wr protocol.WriteResponse
	if e := n.fs.call(ctx, protocol.KindWrite, protocol.WriteRequest{Handle: h.id, Offset: off, Data: data}, &wr); e != 0 {
		return 0, e
	}
	return uint32(wr.N), 0
}

func (n *node) Release(ctx context.Context, fh fs.FileHandle) syscall.Errno {
	if h, ok := fh.(*handle); ok {
		// The program has closed its fd already; never fail or wait on
		// its behalf beyond the timeout.
		n.fs.call(context.WithoutCancel(ctx), protocol.KindClose, protocol.CloseRequest{Handle: h.id}, nil)
	}
	return 0
}

// Writes go to the pod at once (no write-back cache here), so there is
// nothing to flush.
func (n *node) Flush(context.Context, fs.FileHandle) syscall.Errno         { return 0 }
func (n *node) Fsync(context.Context, fs.FileHandle, uint32) syscall.Errno { return 0 }

func (n *node) Readdir(ctx context.Context) (fs.DirStream, syscall.Errno) {
	var rd protocol.ReaddirResponse
	if e := n.fs.call(ctx, protocol.KindReaddir, protocol.ReaddirRequest{Path: n.remotePath()}, &rd); e != 0 {
		return nil, e
	}
	out := make([]fuse.DirEntry, 0, len(rd.Entries))
	for _, e := range rd.Entries {
		out = append(out, fuse.DirEntry{Name: e.Name, Ino: e.Ino, Mode: uint32(e.Type) << 12})
	}
	return fs.NewListDirStream(out), 0
}

func (n *node) Readlink(ctx context.Context) ([]byte, syscall.Errno) {
	var r protocol.ReadlinkResponse
	if e := n.fs.call(ctx, protocol.KindReadlink, protocol.ReadlinkRequest{Path: n.remotePath()}, &r); e != 0 {
		return nil, e
	}
	return []byte(r.Target), 0
}

// handle is one open remote file. It keeps the last chunk read, so the
// kernel's sequential 128 KiB reads cost one agent round trip per chunk,
// and while a file is read in order it fetches the next chunk in the
// background, so the transfer does not stop for each request's round trip.
type handle struct {
	fs *FS
	id uint64

	mu    sync.Mutex
	off   int64
	data  []byte
	eof   bool
	valid bool
	next  *prefetch // the chunk after data, on its way
}

// prefetch is one background read; done is closed when rr and e are set.
// Its goroutine ends with the call (bounded by the FS timeout); a result
// nobody wants any more is dropped.
type prefetch struct {
	off  int64
	done chan struct{}
	rr   protocol.ReadResponse
	e    syscall.Errno
}

func (h *handle) fetch(off int64) *prefetch {
	p := &prefetch{off: off, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		p.e = h.fs.call(context.Background(), protocol.KindRead, protocol.ReadRequest{Handle: h.id, Offset: off, Size: readChunk}, &p.rr)
	}()
	return p
}

func (h *handle) drop() {
	h.mu.Lock()
	h.valid, h.data, h.next = false, nil, nil
	h.mu.Unlock()
}

func (h *handle) read(ctx context.Context, dest []byte, off int64) ([]byte, syscall.Errno) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if b, ok := h.cached(dest, off); ok {
		return b, 0
	}
	sequential := off == 0 || (h.valid && off == h.off+int64(len(h.data)))
	var rr protocol.ReadResponse
	var e syscall.Errno
	size := max(len(dest), readChunk)
	if p := h.next; p != nil && p.off == off && size == readChunk {
		h.next = nil
		select {
		case <-p.done:
		case <-ctx.Done():
			return nil, syscall.EINTR
		}
		rr, e = p.rr, p.e
	} else {
		h.next = nil
		e = h.fs.call(ctx, protocol.KindRead, protocol.ReadRequest{Handle: h.id, Offset: off, Size: size}, &rr)
	}
	if e != 0 {
		return nil, e
	}
	h.off, h.data, h.eof, h.valid = off, rr.Data, rr.EOF || len(rr.Data) < size, true
	if sequential && !h.eof {
		h.next = h.fetch(off + int64(len(rr.Data)))
	}
	b, _ := h.cached(dest, off)
	return b, 0
}

// cached answers from the kept chunk when it covers the request (or the
// request starts at or past a known end of file).
func (h *handle) cached(dest []byte, off int64) ([]byte, bool) {
	if !h.valid || off < h.off {
		return nil, false
	}
	end := h.off + int64(len(h.data))
	if off >= end {
		return nil, h.eof && off == end
	}
	n := copy(dest, h.data[off-h.off:])
	if n < len(dest) && !h.eof {
		return nil, false
	}
	return dest[:n], true
}
