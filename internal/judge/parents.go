package judge

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"fmt"
	"io/fs"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// KernelParent is one parent pointer as the kernel's XFS_IOC_GETPARENTS
// gives it: the directory (inode and generation, from its handle) and
// the name.
type KernelParent struct {
	Dir  uint64
	Gen  uint32
	Name string
}

// KernelInode is what the kernel says of one inode of a filesystem with
// parent pointers: every path naming it (from a walk of the mount) and
// its parent pointers (from the getparents ioctl, by handle), sorted.
type KernelInode struct {
	Paths   []string
	Parents []KernelParent
	Root    bool // getparents said it is the root directory
}

// The ioctls of xfs_fs.h (64-bit layouts): XFS_IOC_PATH_TO_HANDLE with
// struct xfs_fsop_handlereq (56 bytes), XFS_IOC_GETPARENTS_BY_HANDLE
// with struct xfs_getparents_by_handle (a 24-byte xfs_handle, then a
// 40-byte xfs_getparents: cursor 16, iflags 2, oflags 2, bufsize 4,
// reserved 8, buffer 8). A record: the parent's handle (fsid 8,
// fid_len 2, fid_pad 2, fid_gen 4, fid_ino 8), reclen 4, reserved 4,
// the NUL-terminated name.
const (
	iocPathToHandle       = 0xC0385869 // _IOWR('X', 105, 56)
	iocGetParentsByHandle = 0xC040583F // _IOWR('X', 63, 64)
	handleLen             = 24
	getParentsOflagRoot   = 1
	getParentsOflagDone   = 2
)

// KernelParents loop-mounts a copy of img read-only (-o ro,nouuid) and
// returns, for every inode reachable from the root, its paths and the
// parent pointers the kernel reads for it. Bounded by 10 minutes; the
// mount is undone in t.Cleanup too.
func KernelParents(t testing.TB, img string) map[uint64]*KernelInode {
	t.Helper()
	mnt, umount := kernelMount(t, img)
	defer umount()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	out := map[uint64]*KernelInode{}
	first := map[uint64]string{}
	err := filepath.WalkDir(mnt, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		rel := "/" + filepath.ToSlash(must(filepath.Rel(mnt, p)))
		if rel == "/." {
			rel = "/"
		}
		ki := out[st.Ino]
		if ki == nil {
			ki = &KernelInode{}
			out[st.Ino] = ki
			first[st.Ino] = p
		}
		ki.Paths = append(ki.Paths, rel)
		return nil
	})
	if err != nil {
		t.Fatalf("walking the kernel's mount of %s: %v", img, err)
	}
	root, err := unix.Open(mnt, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(root)
	// The root's handle gives the filesystem's part of every handle (the
	// fsid and the fid's length); the generation of each inode comes from
	// name_to_handle_at, as XFS_IOC_PATH_TO_HANDLE makes handles of
	// regular files, directories and symlinks only.
	rootHandle, err := pathToHandle(root, mnt)
	if err != nil {
		t.Fatalf("%s: XFS_IOC_PATH_TO_HANDLE: %v", mnt, err)
	}
	for ino, p := range first {
		h, err := handleOf(rootHandle, p)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		ki := out[ino]
		if ki.Parents, ki.Root, err = getParents(root, h); err != nil {
			t.Fatalf("%s: XFS_IOC_GETPARENTS_BY_HANDLE: %v", p, err)
		}
		slices.Sort(ki.Paths)
		slices.SortFunc(ki.Parents, CompareParents)
	}
	return out
}

// CompareParents orders parent pointers by directory, name, generation.
func CompareParents(a, b KernelParent) int {
	return cmp.Or(cmp.Compare(a.Dir, b.Dir), cmp.Compare(a.Name, b.Name), cmp.Compare(a.Gen, b.Gen))
}

func must(s string, err error) string {
	if err != nil {
		panic(err)
	}
	return s
}

// pathToHandle is XFS_IOC_PATH_TO_HANDLE: the handle of the path (a
// symlink's own, not its target's).
func pathToHandle(fd int, p string) ([]byte, error) {
	path, err := unix.BytePtrFromString(p)
	if err != nil {
		return nil, err
	}
	handle := make([]byte, 64)
	hlen := uint32(len(handle))
	var req [56]byte
	binary.NativeEndian.PutUint64(req[8:], uint64(uintptr(unsafe.Pointer(path))))
	binary.NativeEndian.PutUint64(req[40:], uint64(uintptr(unsafe.Pointer(&handle[0]))))
	binary.NativeEndian.PutUint64(req[48:], uint64(uintptr(unsafe.Pointer(&hlen))))
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), iocPathToHandle, uintptr(unsafe.Pointer(&req[0])))
	runtime.KeepAlive(path)
	runtime.KeepAlive(handle)
	runtime.KeepAlive(&hlen)
	if errno != 0 {
		return nil, errno
	}
	if hlen != handleLen {
		return nil, fmt.Errorf("handle of %d bytes, want %d", hlen, handleLen)
	}
	return handle[:hlen], nil
}

// handleOf is the XFS handle of path p (not following a symlink): the
// filesystem's part from fsHandle, the inode and generation from
// name_to_handle_at (XFS encodes them as xfs_fid64: inode 8, generation
// 4, in the CPU's order).
func handleOf(fsHandle []byte, p string) ([]byte, error) {
	fh, _, err := unix.NameToHandleAt(unix.AT_FDCWD, p, 0) // 0: a symlink itself
	if err != nil {
		return nil, fmt.Errorf("name_to_handle_at: %w", err)
	}
	b := fh.Bytes()
	if len(b) < 12 {
		return nil, fmt.Errorf("name_to_handle_at: a handle of %d bytes (type %#x)", len(b), fh.Type())
	}
	h := slices.Clone(fsHandle)
	binary.NativeEndian.PutUint16(h[10:], 0)
	binary.NativeEndian.PutUint32(h[12:], binary.NativeEndian.Uint32(b[8:]))
	binary.NativeEndian.PutUint64(h[16:], binary.NativeEndian.Uint64(b[0:]))
	return h, nil
}

// getParents is XFS_IOC_GETPARENTS_BY_HANDLE, called until the kernel
// says it is done.
func getParents(fd int, handle []byte) (out []KernelParent, root bool, err error) {
	buf := make([]byte, 64<<10)
	var req [64]byte
	copy(req[:], handle)
	for range 1 << 20 {
		clear(buf)
		binary.NativeEndian.PutUint32(req[24+20:], uint32(len(buf)))
		binary.NativeEndian.PutUint64(req[24+32:], uint64(uintptr(unsafe.Pointer(&buf[0]))))
		_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), iocGetParentsByHandle, uintptr(unsafe.Pointer(&req[0])))
		runtime.KeepAlive(buf)
		if errno != 0 {
			return nil, false, errno
		}
		oflags := binary.NativeEndian.Uint16(req[24+18:])
		root = root || oflags&getParentsOflagRoot != 0
		for off := 0; off+32 <= len(buf); {
			reclen := int(binary.NativeEndian.Uint32(buf[off+24:]))
			if reclen == 0 {
				break
			}
			if reclen < 33 || off+reclen > len(buf) {
				return nil, false, fmt.Errorf("record of %d bytes at %d", reclen, off)
			}
			name := buf[off+32 : off+reclen]
			if i := bytes.IndexByte(name, 0); i >= 0 {
				name = name[:i]
			}
			out = append(out, KernelParent{
				Dir:  binary.NativeEndian.Uint64(buf[off+16:]),
				Gen:  binary.NativeEndian.Uint32(buf[off+12:]),
				Name: string(name),
			})
			off += reclen
		}
		if oflags&getParentsOflagDone != 0 {
			return out, root, nil
		}
	}
	return nil, false, fmt.Errorf("getparents did not finish")
}
