//go:build linux

package handler

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mirrord-go/mirrord/agent/protocol"
)

// fsRoot builds a small container filesystem in a temp dir, with links
// that try to leave it, and a file outside it that must stay unreachable.
func fsRoot(t *testing.T) (root, outside string) {
	t.Helper()
	base := t.TempDir()
	root = filepath.Join(base, "root")
	outside = filepath.Join(base, "secret.txt")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(outside, []byte("node secret\n"), 0o600))
	must(os.MkdirAll(filepath.Join(root, "app", "sub"), 0o755))
	must(os.MkdirAll(filepath.Join(root, "etc"), 0o755))
	must(os.WriteFile(filepath.Join(root, "app", "test.txt"), []byte("hello from the pod\n"), 0o644))
	must(os.WriteFile(filepath.Join(root, "etc", "secret.txt"), []byte("container secret\n"), 0o644))
	must(os.WriteFile(filepath.Join(root, "app", "noexec"), nil, 0o644))
	must(os.Symlink("/etc/secret.txt", filepath.Join(root, "app", "abs-link")))
	must(os.Symlink("../../../../../../secret.txt", filepath.Join(root, "app", "dotdot-link")))
	must(os.Symlink(outside, filepath.Join(root, "app", "host-link")))
	must(os.Symlink("/proc/self/root/etc/passwd", filepath.Join(root, "app", "magic-link")))
	must(unix.Mkfifo(filepath.Join(root, "app", "fifo"), 0o644))
	return root, outside
}

func fsClient(t *testing.T) (*protocol.Client, string) {
	t.Helper()
	root, _ := fsRoot(t)
	return connect(t, &Agent{Version: "test", Mode: "targeted", Root: root, Log: quiet}), root
}

func callCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// readAll opens p on the agent and reads it whole in chunks of size.
func readAll(ctx context.Context, cl *protocol.Client, p string, size int) ([]byte, error) {
	var or protocol.OpenResponse
	if err := cl.Call(ctx, protocol.KindOpen, protocol.OpenRequest{Path: p}, &or); err != nil {
		return nil, err
	}
	defer cl.Call(ctx, protocol.KindClose, protocol.CloseRequest{Handle: or.Handle}, nil)
	var out []byte
	for {
		var rr protocol.ReadResponse
		if err := cl.Call(ctx, protocol.KindRead, protocol.ReadRequest{Handle: or.Handle, Offset: int64(len(out)), Size: size}, &rr); err != nil {
			return out, err
		}
		out = append(out, rr.Data...)
		if rr.EOF || len(rr.Data) == 0 {
			return out, nil
		}
	}
}

func errnoOf(err error) syscall.Errno {
	var pe *protocol.Error
	if errors.As(err, &pe) {
		e, _ := pe.AsErrno()
		return e
	}
	return 0
}

func TestFSRead(t *testing.T) {
	cl, _ := fsClient(t)
	ctx := callCtx(t)
	tests := []struct {
		name, path string
		want       string
		errno      syscall.Errno
	}{
		{"plain file", "/app/test.txt", "hello from the pod\n", 0},
		{"unclean path", "/app/../app/./test.txt", "hello from the pod\n", 0},
		{"absolute link stays in the root", "/app/abs-link", "container secret\n", 0},
		{"dotdot link stops at the root", "/app/dotdot-link", "", syscall.ENOENT},
		{"link to a node path is resolved in the root", "/app/host-link", "", syscall.ENOENT},
		{"dotdot path stops at the root", "/../../../etc/secret.txt", "container secret\n", 0},
		{"link into /proc resolves in the root", "/app/magic-link", "", syscall.ENOENT},
		{"missing", "/app/nope", "", syscall.ENOENT},
		{"directory", "/app", "", syscall.EISDIR},
		{"fifo does not hang", "/app/fifo", "", syscall.ESPIPE},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readAll(ctx, cl, tt.path, 5)
			if tt.errno != 0 {
				if errnoOf(err) != tt.errno {
					t.Fatalf("err = %v, want errno %v", err, tt.errno)
				}
				return
			}
			if err != nil || string(got) != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestFSOpenStatAndOffsets(t *testing.T) {
	cl, _ := fsClient(t)
	ctx := callCtx(t)
	var or protocol.OpenResponse
	if err := cl.Call(ctx, protocol.KindOpen, protocol.OpenRequest{Path: "/app/test.txt"}, &or); err != nil {
		t.Fatal(err)
	}
	if or.Stat.Size != 19 || or.Stat.Mode&syscall.S_IFMT != syscall.S_IFREG || or.Stat.Mode&0o777 != 0o644 {
		t.Errorf("open stat = %+v", or.Stat)
	}
	var rr protocol.ReadResponse
	if err := cl.Call(ctx, protocol.KindRead, protocol.ReadRequest{Handle: or.Handle, Offset: 6, Size: 4}, &rr); err != nil || string(rr.Data) != "from" {
		t.Errorf("pread(6,4) = %q, %v", rr.Data, err)
	}
	var st protocol.FileStat
	if err := cl.Call(ctx, protocol.KindStat, protocol.StatRequest{Handle: or.Handle}, &st); err != nil || st.Size != 19 {
		t.Errorf("fstat = %+v, %v", st, err)
	}
	if err := cl.Call(ctx, protocol.KindClose, protocol.CloseRequest{Handle: or.Handle}, nil); err != nil {
		t.Fatal(err)
	}
	err := cl.Call(ctx, protocol.KindRead, protocol.ReadRequest{Handle: or.Handle, Size: 4}, &rr)
	if errnoOf(err) != syscall.EBADF {
		t.Errorf("read after close: %v, want EBADF", err)
	}
}

func TestFSStat(t *testing.T) {
	cl, _ := fsClient(t)
	ctx := callCtx(t)
	tests := []struct {
		path     string
		nofollow bool
		typ      uint32
		size     int64
		errno    syscall.Errno
	}{
		{"/app/test.txt", false, syscall.S_IFREG, 19, 0},
		{"/app/abs-link", false, syscall.S_IFREG, 17, 0},
		{"/app/abs-link", true, syscall.S_IFLNK, int64(len("/etc/secret.txt")), 0},
		{"/app", false, syscall.S_IFDIR, -1, 0},
		{"/app/host-link", false, 0, 0, syscall.ENOENT},
		{"relative", false, 0, 0, 0},
	}
	for _, tt := range tests {
		var st protocol.FileStat
		err := cl.Call(ctx, protocol.KindStat, protocol.StatRequest{Path: tt.path, NoFollow: tt.nofollow}, &st)
		switch {
		case tt.path == "relative":
			var pe *protocol.Error
			if !errors.As(err, &pe) || pe.Code != protocol.CodeInvalid {
				t.Errorf("stat of a relative path: %v, want invalid", err)
			}
		case tt.errno != 0:
			if errnoOf(err) != tt.errno {
				t.Errorf("stat %s: %v, want %v", tt.path, err, tt.errno)
			}
		case err != nil:
			t.Errorf("stat %s: %v", tt.path, err)
		case st.Mode&syscall.S_IFMT != tt.typ || (tt.size >= 0 && st.Size != tt.size):
			t.Errorf("stat %s (nofollow %v) = mode %o size %d", tt.path, tt.nofollow, st.Mode, st.Size)
		}
	}
}

func TestFSReaddirReadlinkAccess(t *testing.T) {
	cl, _ := fsClient(t)
	ctx := callCtx(t)
	var rd protocol.ReaddirResponse
	if err := cl.Call(ctx, protocol.KindReaddir, protocol.ReaddirRequest{Path: "/app"}, &rd); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range rd.Entries {
		names = append(names, e.Name)
		if e.Name == "sub" && e.Type != syscall.DT_DIR || e.Name == "test.txt" && e.Type != syscall.DT_REG || e.Ino == 0 {
			t.Errorf("entry %+v", e)
		}
	}
	slices.Sort(names)
	want := []string{"abs-link", "dotdot-link", "fifo", "host-link", "magic-link", "noexec", "sub", "test.txt"}
	if !slices.Equal(names, want) {
		t.Errorf("readdir /app = %v, want %v", names, want)
	}
	var rl protocol.ReadlinkResponse
	if err := cl.Call(ctx, protocol.KindReadlink, protocol.ReadlinkRequest{Path: "/app/abs-link"}, &rl); err != nil || rl.Target != "/etc/secret.txt" {
		t.Errorf("readlink = %q, %v", rl.Target, err)
	}
	if err := cl.Call(ctx, protocol.KindReadlink, protocol.ReadlinkRequest{Path: "/app/test.txt"}, &rl); errnoOf(err) != syscall.EINVAL {
		t.Errorf("readlink of a file: %v, want EINVAL", err)
	}
	if err := cl.Call(ctx, protocol.KindAccess, protocol.AccessRequest{Path: "/app/test.txt", Mode: 4}, nil); err != nil {
		t.Errorf("access R_OK: %v", err)
	}
	if err := cl.Call(ctx, protocol.KindAccess, protocol.AccessRequest{Path: "/app/noexec", Mode: 1}, nil); errnoOf(err) != syscall.EACCES {
		t.Errorf("access X_OK of a 0644 file: %v, want EACCES", err)
	}
	if err := cl.Call(ctx, protocol.KindAccess, protocol.AccessRequest{Path: "/app/nope", Mode: 0}, nil); errnoOf(err) != syscall.ENOENT {
		t.Errorf("access of a missing file: %v, want ENOENT", err)
	}
}

func TestFSWrite(t *testing.T) {
	cl, root := fsClient(t)
	ctx := callCtx(t)
	var or protocol.OpenResponse
	err := cl.Call(ctx, protocol.KindOpen, protocol.OpenRequest{Path: "/app/new.txt", Flags: syscall.O_WRONLY | syscall.O_CREAT | syscall.O_EXCL, Mode: 0o640}, &or)
	if err != nil {
		t.Fatal(err)
	}
	var wr protocol.WriteResponse
	for _, w := range []protocol.WriteRequest{{Handle: or.Handle, Data: []byte("hello ")}, {Handle: or.Handle, Offset: 6, Data: []byte("pod")}} {
		if err := cl.Call(ctx, protocol.KindWrite, w, &wr); err != nil || wr.N != len(w.Data) {
			t.Fatalf("write: %d, %v", wr.N, err)
		}
	}
	if err := cl.Call(ctx, protocol.KindClose, protocol.CloseRequest{Handle: or.Handle}, nil); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(root, "app", "new.txt"))
	if err != nil || string(got) != "hello pod" {
		t.Errorf("file on disk = %q, %v", got, err)
	}
	if fi, _ := os.Stat(filepath.Join(root, "app", "new.txt")); fi == nil || fi.Mode().Perm()&0o600 != 0o600 {
		t.Errorf("mode %v", fi)
	}
	err = cl.Call(ctx, protocol.KindOpen, protocol.OpenRequest{Path: "/app/new.txt", Flags: syscall.O_WRONLY | syscall.O_CREAT | syscall.O_EXCL}, &or)
	if errnoOf(err) != syscall.EEXIST {
		t.Errorf("O_EXCL on an existing file: %v, want EEXIST", err)
	}
	// A write through a link that points out of the root lands inside it.
	err = cl.Call(ctx, protocol.KindOpen, protocol.OpenRequest{Path: "/app/host-link", Flags: syscall.O_WRONLY | syscall.O_CREAT, Mode: 0o644}, &or)
	if err == nil {
		cl.Call(ctx, protocol.KindClose, protocol.CloseRequest{Handle: or.Handle}, nil)
	}
	if b, _ := os.ReadFile(filepath.Join(filepath.Dir(root), "secret.txt")); !bytes.Equal(b, []byte("node secret\n")) {
		t.Errorf("the file outside the root changed: %q", b)
	}
}

func TestFSBigReadAndSessionClose(t *testing.T) {
	root, _ := fsRoot(t)
	a := &Agent{Version: "test", Root: root, Log: quiet}
	big := bytes.Repeat([]byte("0123456789abcdef"), (MaxIO+MaxIO/2)/16)
	if err := os.WriteFile(filepath.Join(root, "big"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	cl := connect(t, a)
	ctx := callCtx(t)
	var rr protocol.ReadResponse
	var or protocol.OpenResponse
	if err := cl.Call(ctx, protocol.KindOpen, protocol.OpenRequest{Path: "/big"}, &or); err != nil {
		t.Fatal(err)
	}
	if err := cl.Call(ctx, protocol.KindRead, protocol.ReadRequest{Handle: or.Handle, Size: 1 << 30}, &rr); err != nil || len(rr.Data) != MaxIO {
		t.Fatalf("a huge read gave %d bytes, %v; want the %d-byte bound", len(rr.Data), err, MaxIO)
	}
	got, err := readAll(ctx, cl, "/big", 1<<20)
	if err != nil || !bytes.Equal(got, big) {
		t.Fatalf("read %d of %d bytes, %v", len(got), len(big), err)
	}
	// The session's files are closed when it ends, even those the client
	// never closed.
	s := a.NewSession(nil).(*session)
	if _, err := s.open(protocol.OpenRequest{Path: "/app/test.txt"}); err != nil {
		t.Fatal(err)
	}
	if len(s.files.open) != 1 || s.files.root == nil {
		t.Fatalf("want one open file and the root, got %d", len(s.files.open))
	}
	s.Close()
	if len(s.files.open) != 0 || s.files.root != nil {
		t.Errorf("files left open after Close: %d", len(s.files.open))
	}
	if _, err := s.open(protocol.OpenRequest{Path: "/app/test.txt"}); err == nil {
		t.Errorf("open after Close succeeded")
	}
}
