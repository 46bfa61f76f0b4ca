package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/xfsbox/xfsbox/internal/testimg"
	"github.com/xfsbox/xfsbox/repair/store"
)

// readGate holds reads of an image: while it is held, every read of a
// gated file blocks. A test closes the gate to freeze the xfsbox under
// test at its next read of the image (a repair in mid-flight), does
// what it wants to do meanwhile, and opens the gate again. No test hook
// in xfsbox is needed: the image itself is slow.
type readGate struct {
	mu      sync.Mutex
	open    chan struct{} // closed while reads may proceed
	waiting int           // reads blocked now
	reads   int64         // reads that reached the gate
	holdAt  int64         // > 0: hold once reads reaches it
}

func newReadGate() *readGate {
	g := &readGate{open: make(chan struct{})}
	close(g.open)
	return g
}

// Hold makes the next reads block.
func (g *readGate) Hold() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.holdLocked()
}

func (g *readGate) holdLocked() {
	select {
	case <-g.open:
		g.open = make(chan struct{})
	default: // already held
	}
}

// HoldAfter lets n more reads through, then holds.
func (g *readGate) HoldAfter(n int64) {
	if n <= 0 {
		g.Hold()
		return
	}
	g.mu.Lock()
	g.holdAt = g.reads + n + 1
	g.mu.Unlock()
}

// Reads is the number of reads that reached the gate so far.
func (g *readGate) Reads() int64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.reads
}

// Release lets blocked and future reads through.
func (g *readGate) Release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.holdAt = 0
	select {
	case <-g.open:
	default:
		close(g.open)
	}
}

// Waiting is the number of reads blocked at the gate now.
func (g *readGate) Waiting() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.waiting
}

// pass blocks while the gate is held, or until the request is
// interrupted.
func (g *readGate) pass(ctx context.Context) syscall.Errno {
	g.mu.Lock()
	g.reads++
	if g.holdAt > 0 && g.reads >= g.holdAt {
		g.holdAt = 0
		g.holdLocked()
	}
	ch := g.open
	g.waiting++
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		g.waiting--
		g.mu.Unlock()
	}()
	select {
	case <-ch:
		return 0
	case <-ctx.Done():
		return syscall.EINTR
	}
}

// gateNode is a loopback node whose files (except a repair journal)
// read through the gate, uncached (direct I/O), so that every read of
// the image reaches the gate.
type gateNode struct {
	*fs.LoopbackNode
	gate *readGate
}

var (
	_ fs.NodeWrapChilder = (*gateNode)(nil)
	_ fs.NodeOpener      = (*gateNode)(nil)
)

func (n *gateNode) WrapChild(ctx context.Context, ops fs.InodeEmbedder) fs.InodeEmbedder {
	if ln, ok := ops.(*fs.LoopbackNode); ok {
		return &gateNode{LoopbackNode: ln, gate: n.gate}
	}
	return ops
}

func (n *gateNode) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	fh, fl, errno := n.LoopbackNode.Open(ctx, flags)
	if errno != 0 {
		return fh, fl, errno
	}
	lf, ok := fh.(*fs.LoopbackFile)
	if !ok || strings.HasSuffix(n.Path(nil), store.JournalSuffix) {
		return fh, fl, 0
	}
	return &gateFile{LoopbackFile: lf, gate: n.gate}, fl | fuse.FOPEN_DIRECT_IO, 0
}

// gateFile is a loopback file whose reads wait at the gate.
type gateFile struct {
	*fs.LoopbackFile
	gate *readGate
}

func (f *gateFile) Read(ctx context.Context, buf []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	if errno := f.gate.pass(ctx); errno != 0 {
		return nil, errno
	}
	return f.LoopbackFile.Read(ctx, buf, off)
}

// PassthroughFd refuses the kernel's FUSE passthrough: reads must come
// here.
func (f *gateFile) PassthroughFd() (int, bool) { return -1, false }

// gatedCopy copies profile's image into a directory served through a
// gated loopback FUSE mount and returns the image's path in that mount
// (what xfsbox is given), its path in the backing directory (what the
// judges read once xfsbox is done) and the gate. Everything is undone
// in t.Cleanup.
func gatedCopy(t *testing.T, profile string) (img, backing string, gate *readGate) {
	t.Helper()
	testimg.Require(t, "root", "fuse", "xfsprogs")
	src := testimg.Copy(t, profile)
	dir := t.TempDir()
	backing = filepath.Join(dir, "image.img")
	if err := os.Rename(src, backing); err != nil {
		t.Fatal(err)
	}
	gate = newReadGate()
	root := &fs.LoopbackRoot{Path: dir}
	st, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	root.Dev = uint64(st.Sys().(*syscall.Stat_t).Dev)
	rootNode := &gateNode{LoopbackNode: &fs.LoopbackNode{RootData: root}, gate: gate}
	root.RootNode = rootNode
	mnt := t.TempDir()
	srv, err := fs.Mount(mnt, rootNode, &fs.Options{MountOptions: fuse.MountOptions{
		FsName: "xfsbox-gate", Name: "xfsboxgate", DirectMount: true, DisableXAttrs: true,
	}})
	if err != nil {
		t.Fatalf("gated loopback mount: %v", err)
	}
	t.Cleanup(func() {
		gate.Release()
		unmountServer(t, srv.Unmount, mnt)
	})
	return filepath.Join(mnt, "image.img"), backing, gate
}
