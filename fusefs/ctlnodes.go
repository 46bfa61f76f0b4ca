package fusefs

import (
	"bytes"
	"context"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/xfsbox/xfsbox/repair/fsys"
)

// controlNode is one of the control files: ctl, status, log at the root
// and repair in every AG directory.
type controlNode struct {
	fs.Inode
	ctl  *Controller
	kind string   // "ctl", "status", "log" or "repair"
	ag   fsys.AGs // the AG of a repair file, AllAGs otherwise
}

// controlHandle is one open of a control file: what it showed when
// opened, and the part of a command line written so far.
type controlHandle struct {
	node    *controlNode
	content []byte
	pending []byte
}

func (n *controlNode) writable() bool { return n.kind == "ctl" || n.kind == "repair" }

func (n *controlNode) Getattr(ctx context.Context, fh fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	fillFileAttr(&out.Attr)
	if n.writable() {
		out.Mode = syscall.S_IFREG | 0o644
	}
	return 0
}

// Setattr accepts the truncate a shell's ">" sends before writing.
func (n *controlNode) Setattr(ctx context.Context, fh fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if !n.writable() {
		return syscall.EACCES
	}
	return n.Getattr(ctx, fh, out)
}

func (n *controlNode) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	if flags&(syscall.O_WRONLY|syscall.O_RDWR) != 0 && !n.writable() {
		return nil, 0, syscall.EACCES
	}
	h := &controlHandle{node: n}
	switch n.kind {
	case "status":
		h.content = n.ctl.Status()
	case "log":
		h.content = n.ctl.Log()
	default:
		h.content = n.ctl.Last()
	}
	return h, fuse.FOPEN_DIRECT_IO, 0
}

func (h *controlHandle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	if off >= int64(len(h.content)) {
		return fuse.ReadResultData(nil), 0
	}
	return fuse.ReadResultData(h.content[off:min(off+int64(len(dest)), int64(len(h.content)))]), 0
}

// Write runs every complete line as it arrives; the write returns when
// the command has finished, with its errno.
func (h *controlHandle) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	h.pending = append(h.pending, data...)
	for {
		i := bytes.IndexByte(h.pending, '\n')
		if i < 0 {
			break
		}
		line := string(h.pending[:i])
		h.pending = h.pending[i+1:]
		if err := h.node.ctl.Exec(ctx, line, h.node.ag); err != nil {
			return 0, toErrno(err)
		}
	}
	return uint32(len(data)), 0
}

// Flush runs a last line written without a newline; empty flushes do
// nothing.
func (h *controlHandle) Flush(ctx context.Context) syscall.Errno {
	if len(bytes.TrimSpace(h.pending)) == 0 {
		return 0
	}
	line := string(h.pending)
	h.pending = nil
	return toErrno(h.node.ctl.Exec(ctx, line, h.node.ag))
}
