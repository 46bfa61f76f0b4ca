package fusefs

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/xfsbox/xfsbox/repair/store"
	"github.com/xfsbox/xfsbox/repair/view"
)

// Options tune a mount.
type Options struct {
	ReadOnly bool
	Debug    bool // log every FUSE request
}

// Server is a mounted view tree.
type Server struct {
	*fuse.Server
	Dir string
	ctl *Controller
}

// Shutdown stops the mount's control commands for good before the
// process exits (Controller.Shutdown); unmount after it.
func (s *Server) Shutdown() { s.ctl.Shutdown() }

// CheckMountpoint refuses, by name, a mount point that is missing, not
// a directory, or already a mount point.
func CheckMountpoint(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	st, err := os.Stat(abs)
	if err != nil {
		if os.IsNotExist(err) {
			return "", fmt.Errorf("mount point %s does not exist (create it with mkdir)", dir)
		}
		return "", fmt.Errorf("mount point %s: %w", dir, err)
	}
	if !st.IsDir() {
		return "", fmt.Errorf("mount point %s is not a directory", dir)
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return "", err
	}
	mounted, err := isMountpoint(real)
	if err != nil {
		return "", err
	}
	if mounted {
		return "", fmt.Errorf("mount point %s is already a mount point (unmount it first, e.g. fusermount3 -u %s)", dir, dir)
	}
	return real, nil
}

// isMountpoint reports whether dir is the mount point of any mount in
// this mount namespace.
func isMountpoint(dir string) (bool, error) {
	mounts, err := store.Mounts()
	if err != nil {
		return false, err
	}
	for _, m := range mounts {
		if m.Point == dir {
			return true, nil
		}
	}
	return false, nil
}

// Mount serves tree at dir. The caller waits with Wait and unmounts with
// Unmount; `fusermount3 -u dir` works too.
func Mount(dir string, tree *view.Tree, opts Options) (*Server, error) {
	real, err := CheckMountpoint(dir)
	if err != nil {
		return nil, err
	}
	timeout := entryTimeout
	ctl := NewController(tree, opts.ReadOnly)
	root := &dirNode{tree: tree, ctl: ctl, path: "", deleted: &deletedTree{fs: tree.FS}}
	mo := fuse.MountOptions{
		FsName:       "xfsbox:" + tree.FS.Img.Path(),
		Name:         "xfsbox",
		DirectMount:  true,
		Debug:        opts.Debug,
		MaxReadAhead: 128 << 10,
	}
	if opts.ReadOnly {
		mo.Options = append(mo.Options, "ro")
	}
	// go-fuse's node tree serves everything but files/, which filesFS
	// serves itself, in front of it.
	nodes := fs.NewNodeFS(root, &fs.Options{
		EntryTimeout:    &timeout,
		AttrTimeout:     &timeout,
		NegativeTimeout: &timeout,
	})
	files := &filesFS{next: nodes, fsys: tree.FS, ctl: ctl, timeout: entryTimeout}
	if opts.ReadOnly {
		files.timeout = filesTimeout
	}
	srv, err := fuse.NewServer(files, real, &mo)
	if err != nil {
		return nil, fmt.Errorf("mount %s: %w", dir, err)
	}
	go srv.Serve()
	if err := srv.WaitMount(); err != nil {
		srv.Unmount()
		return nil, fmt.Errorf("mount %s: %w", dir, err)
	}
	slog.Info("mounted", "image", tree.FS.Img.Path(), "mountpoint", real)
	return &Server{Server: srv, Dir: real, ctl: ctl}, nil
}
