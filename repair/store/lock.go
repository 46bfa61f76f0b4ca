package store

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// ErrImageBusy is wrapped by LockImage when another process holds the
// image's lock.
var ErrImageBusy = errors.New("image is in use")

// LockError names who holds an image's lock, as far as /proc tells.
type LockError struct {
	Path string
	PID  int    // 0 when not found
	Comm string // the holder's command name, if known
}

func (e *LockError) Error() string {
	switch {
	case e.PID == 0:
		return fmt.Sprintf("%s: %v by another process (its lock holder is not listed in /proc/locks)", e.Path, ErrImageBusy)
	case e.Comm == "xfsbox":
		return fmt.Sprintf("%s: %v by another xfsbox (pid %d)", e.Path, ErrImageBusy, e.PID)
	case e.Comm != "":
		return fmt.Sprintf("%s: %v by pid %d (%s)", e.Path, ErrImageBusy, e.PID, e.Comm)
	}
	return fmt.Sprintf("%s: %v by pid %d", e.Path, ErrImageBusy, e.PID)
}

func (e *LockError) Unwrap() error { return ErrImageBusy }

// LockImage takes an exclusive advisory lock (flock) on the open image
// so that a second xfsbox refuses to write it. flock locks belong to the
// open file: another open of the same image, even in this process,
// conflicts. The lock does not stop the kernel (see MountedByKernel).
// An image that is not a file (f nil) cannot be locked: ErrNotFile.
func LockImage(f *os.File, path string) (unlock func(), err error) {
	if f == nil {
		return nil, fmt.Errorf("%s: locking: %w", path, ErrNotFile)
	}
	fd := int(f.Fd())
	for {
		err = unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB)
		if err != unix.EINTR {
			break
		}
	}
	if errors.Is(err, unix.EWOULDBLOCK) {
		le := &LockError{Path: path}
		var st unix.Stat_t
		if unix.Fstat(fd, &st) == nil {
			le.PID = flockHolder(uint64(st.Dev), st.Ino)
			if le.PID > 0 {
				if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", le.PID)); err == nil {
					le.Comm = strings.TrimSpace(string(b))
				}
			}
		}
		return nil, le
	}
	if err != nil {
		return nil, fmt.Errorf("%s: locking: %w", path, err)
	}
	return func() { unix.Flock(fd, unix.LOCK_UN) }, nil
}

// flockHolder finds in /proc/locks the pid of the FLOCK lock on the
// inode (the pid that took it), or 0. Lines look like
// "1: FLOCK  ADVISORY  WRITE 1234 fd:01:5678 0 EOF", the device in hex
// major:minor; lines with "->" are waiters, not holders.
func flockHolder(dev, ino uint64) int {
	f, err := os.Open("/proc/locks")
	if err != nil {
		return 0
	}
	defer f.Close()
	maj, mnr := uint64(unix.Major(dev)), uint64(unix.Minor(dev))
	inoOnly := 0 // a match on the inode alone: overlayfs reports another device
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fl := strings.Fields(sc.Text())
		if len(fl) < 6 || fl[1] == "->" || fl[1] != "FLOCK" {
			continue
		}
		pid, err1 := strconv.Atoi(fl[4])
		parts := strings.Split(fl[5], ":")
		if err1 != nil || pid <= 0 || len(parts) != 3 {
			continue
		}
		lmaj, e1 := strconv.ParseUint(parts[0], 16, 32)
		lmnr, e2 := strconv.ParseUint(parts[1], 16, 32)
		lino, e3 := strconv.ParseUint(parts[2], 10, 64)
		if e1 != nil || e2 != nil || e3 != nil || lino != ino {
			continue
		}
		if lmaj == maj && lmnr == mnr {
			return pid
		}
		if inoOnly == 0 {
			inoOnly = pid
		}
	}
	return inoOnly
}

// MountedByKernel reports whether the kernel has the image mounted:
// a block device directly (its device number in /proc/self/mountinfo),
// a regular file through a loop device backed by it (same inode), mounted
// or merely attached (a loop device may be mounted in another mount
// namespace, which this one cannot see). where describes it, e.g.
// "mounted at /mnt/x via /dev/loop3".
func MountedByKernel(path string) (where string, mounted bool, err error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return "", false, fmt.Errorf("%s: %w", path, err)
	}
	list, err := Mounts()
	if err != nil {
		return "", false, err
	}
	mounts := map[uint64]string{} // a mount point of each device
	for _, m := range list {
		if _, seen := mounts[m.Dev]; !seen {
			mounts[m.Dev] = m.Point
		}
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFBLK:
		if mp, ok := mounts[uint64(st.Rdev)]; ok {
			return "mounted at " + mp, true, nil
		}
		return "", false, nil
	case unix.S_IFREG:
	default:
		return "", false, nil
	}
	abs, _ := filepath.Abs(path)
	loops, _ := filepath.Glob("/sys/block/loop*")
	for _, dir := range loops {
		b, err := os.ReadFile(filepath.Join(dir, "loop", "backing_file"))
		if err != nil {
			continue // not attached
		}
		backing := strings.TrimSuffix(strings.TrimSpace(string(b)), " (deleted)")
		var bst unix.Stat_t
		same := unix.Stat(backing, &bst) == nil && bst.Dev == st.Dev && bst.Ino == st.Ino
		if !same && backing != abs {
			continue
		}
		dev := "/dev/" + filepath.Base(dir)
		if rdev, ok := sysfsDev(filepath.Join(dir, "dev")); ok {
			if mp, ok := mounts[rdev]; ok {
				return "mounted at " + mp + " via " + dev, true, nil
			}
		}
		return "attached to " + dev + " (not mounted in this mount namespace; it may be mounted in another)", true, nil
	}
	return "", false, nil
}

// Mount is one mount of /proc/self/mountinfo.
type Mount struct {
	Dev    uint64 // the mounted filesystem's device number (st_dev)
	Root   string // the directory of that filesystem mounted here
	Point  string // the mount point
	FSType string // e.g. "xfs", "fuse.xfsbox"
	Source string // e.g. "/dev/loop3"
}

// Mounts lists this mount namespace's mounts, from /proc/self/mountinfo.
func Mounts() ([]Mount, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parseMountinfo(f)
}

// parseMountinfo parses mountinfo lines, like
// "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw"
// (optional fields up to the "-", then type, source and options), paths
// octal-escaped. Lines the kernel never writes (too short, or with no
// major:minor) are skipped.
func parseMountinfo(r io.Reader) ([]Mount, error) {
	var out []Mount
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		fl := strings.Fields(sc.Text())
		if len(fl) < 5 {
			continue
		}
		dev, ok := parseDev(fl[2])
		if !ok {
			continue
		}
		m := Mount{Dev: dev, Root: unescapeMount(fl[3]), Point: unescapeMount(fl[4])}
		for i := 6; i < len(fl); i++ {
			if fl[i] == "-" {
				if i+1 < len(fl) {
					m.FSType = fl[i+1]
				}
				if i+2 < len(fl) {
					m.Source = unescapeMount(fl[i+2])
				}
				break
			}
		}
		out = append(out, m)
	}
	return out, sc.Err()
}

// parseDev parses "major:minor" (decimal) into a dev_t.
func parseDev(s string) (uint64, bool) {
	a, b, ok := strings.Cut(strings.TrimSpace(s), ":")
	if !ok {
		return 0, false
	}
	maj, e1 := strconv.ParseUint(a, 10, 32)
	mnr, e2 := strconv.ParseUint(b, 10, 32)
	if e1 != nil || e2 != nil {
		return 0, false
	}
	return unix.Mkdev(uint32(maj), uint32(mnr)), true
}

func sysfsDev(path string) (uint64, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	return parseDev(string(b))
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
