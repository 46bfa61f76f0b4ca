package fusefs

import (
	"context"
	"errors"
	"strconv"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/xfsbox/xfsbox/repair/view"
)

// inodeStream lists inodes/ as the inode btrees are walked, a batch at a
// time, so a filesystem of millions of inodes never sits in memory.
type inodeStream struct {
	d      *dirNode
	ctx    context.Context
	cancel context.CancelFunc
	ch     chan uint64
	err    error // set before ch closes
	next   *uint64
}

func newInodeStream(d *dirNode, tree *view.Tree) *inodeStream {
	ctx, cancel := context.WithCancel(context.Background())
	s := &inodeStream{d: d, ctx: ctx, cancel: cancel, ch: make(chan uint64, 1024)}
	go func() {
		defer close(s.ch)
		s.err = tree.EachInode(ctx, func(ino uint64) error {
			select {
			case s.ch <- ino:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()
	return s
}

func (s *inodeStream) HasNext() bool {
	if s.next != nil {
		return true
	}
	ino, ok := <-s.ch
	if !ok {
		return s.err != nil && !errors.Is(s.err, context.Canceled)
	}
	s.next = &ino
	return true
}

func (s *inodeStream) Next() (fuse.DirEntry, syscall.Errno) {
	if s.next == nil {
		err := s.err
		s.err = nil
		return fuse.DirEntry{}, toErrno(err)
	}
	ino := *s.next
	s.next = nil
	name := strconv.FormatUint(ino, 10)
	return fuse.DirEntry{Name: name, Mode: syscall.S_IFDIR, Ino: stable(s.d.child(name), syscall.S_IFDIR).Ino}, 0
}

func (s *inodeStream) Close() { s.cancel() }
