package fusefs

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/sirupsen/logrus"

	"github.com/xfsbox/xfsbox/fusefs/view"
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
}

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

// isMountpoint reads /proc/self/mountinfo (field 5 is the mount point,
// with spaces and such octal-escaped).
func isMountpoint(dir string) (bool, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return false, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && unescapeMountinfo(fields[4]) == dir {
			return true, nil
		}
	}
	return false, sc.Err()
}

func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var c byte
			if _, err := fmt.Sscanf(s[i+1:i+4], "%3o", &c); err == nil {
				b.WriteByte(c)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// Mount serves tree at dir. The caller waits with Wait and unmounts with
// Unmount; `fusermount3 -u dir` works too.
func Mount(dir string, tree *view.Tree, opts Options) (*Server, error) {
	real, err := CheckMountpoint(dir)
	if err != nil {
		return nil, err
	}
	timeout := time.Second
	root := &dirNode{tree: tree, ctl: NewController(tree, opts.ReadOnly), path: ""}
	mo := fuse.MountOptions{
		FsName:        "xfsbox:" + tree.FS.Img.Path(),
		Name:          "xfsbox",
		DirectMount:   true,
		Debug:         opts.Debug,
		DisableXAttrs: true,
		MaxReadAhead:  128 << 10,
	}
	if opts.ReadOnly {
		mo.Options = append(mo.Options, "ro")
	}
	srv, err := fs.Mount(real, root, &fs.Options{
		MountOptions:    mo,
		EntryTimeout:    &timeout,
		AttrTimeout:     &timeout,
		NegativeTimeout: &timeout,
	})
	if err != nil {
		return nil, fmt.Errorf("mount %s: %w", dir, err)
	}
	logrus.WithFields(logrus.Fields{"image": tree.FS.Img.Path(), "mountpoint": real}).Info("mounted")
	return &Server{Server: srv, Dir: real}, nil
}
