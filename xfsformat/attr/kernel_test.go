package attr

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xfsbox/xfsbox/internal/testimg"
)

// getfattr dumps every attribute of the files under mnt as the kernel
// shows them: `getfattr -d -m - --absolute-names -e hex`, parsed into
// file (relative to mnt) -> Linux name -> value.
func getfattr(t *testing.T, mnt string, files ...string) map[string]map[string][]byte {
	t.Helper()
	args := []string{"-d", "-m", "-", "--absolute-names", "-e", "hex"}
	for _, f := range files {
		args = append(args, filepath.Join(mnt, f))
	}
	out, err := testimg.RunTimed(t, time.Minute, "getfattr", args...)
	if err != nil || kernelRefused(out) {
		t.Fatalf("getfattr: %v\n...%s", err, out[max(len(out)-1000, 0):])
	}
	dump := map[string]map[string][]byte{}
	var cur map[string][]byte
	for line := range strings.SplitSeq(out, "\n") {
		if p, ok := strings.CutPrefix(line, "# file: "); ok {
			rel, err := filepath.Rel(mnt, p)
			if err != nil {
				t.Fatal(err)
			}
			cur = map[string][]byte{}
			dump[rel] = cur
			continue
		}
		name, v, ok := strings.Cut(line, "=")
		if !ok || cur == nil {
			continue
		}
		b, err := hex.DecodeString(strings.TrimPrefix(v, "0x"))
		if err != nil {
			t.Fatalf("getfattr line %q: %v", line, err)
		}
		cur[name] = b
	}
	return dump
}

// linuxView is what getfattr -d should show of inode ino's attributes
// as we decoded them (attrs, in walk order): every name listxattr gives
// each (LinuxNames), with the value getxattr finds for it, looked up as
// the kernel does (by hash in leaf and node forks: an entry filed under
// another hash is listed but not found, and getfattr leaves it out).
func linuxView(t *testing.T, im *image, ino uint64, attrs []decoded) map[string][]byte {
	t.Helper()
	f := openFork(t, im, ino)
	m := map[string][]byte{}
	for _, d := range attrs {
		for _, ln := range LinuxNames(d.flags, []byte(d.name)) {
			ns, name, ok := ParseLinuxName(ln)
			if !ok {
				t.Errorf("ParseLinuxName(%q) fails", ln)
				continue
			}
			var a *Attr
			var err error
			if f.local != nil {
				a, err = LookupShortform(f.local, ns, name)
			} else {
				a, err = LookupBlocks(f.reader(t), ns, name)
			}
			if errors.Is(err, ErrNoAttr) {
				continue
			}
			if err != nil {
				t.Errorf("looking up %s: %v", ln, err)
				continue
			}
			v := a.Value
			if a.Remote {
				var errs []error
				v, errs = AssembleRemote(f.remoteRuns(t, a.ValueBlk, RemoteBlocks(a.ValueLen, im.bsize(), im.v5())), a.ValueLen, im.remoteOpts(ino))
				if len(errs) > 0 {
					continue // the kernel's getxattr fails: not in the dump
				}
			}
			if v, err = LinuxValue(ln, v, im.v5()); err != nil {
				t.Errorf("%s: %v", ln, err)
				continue
			}
			if _, dup := m[ln]; dup {
				t.Errorf("%s decoded twice", ln)
			}
			m[ln] = v
		}
	}
	return m
}

// sameView compares our view of a file's attributes with the kernel's.
func sameView(t *testing.T, file string, ours, kernel map[string][]byte) {
	t.Helper()
	for n, kv := range kernel {
		ov, ok := ours[n]
		switch {
		case !ok:
			t.Errorf("%s: the kernel shows %s, we do not", file, n)
		case !bytes.Equal(ov, kv):
			t.Errorf("%s: %s is %d bytes %x..., the kernel says %d bytes %x...", file, n, len(ov), ov[:min(len(ov), 16)], len(kv), kv[:min(len(kv), 16)])
		}
	}
	for n := range ours {
		if _, ok := kernel[n]; !ok {
			t.Errorf("%s: we decode %s, the kernel does not show it", file, n)
		}
	}
}

// TestKernelImages: the xattr files of the cached images, decoded by
// us from a copy, hold what the kernel's mount of that copy shows.
func TestKernelImages(t *testing.T) {
	testimg.Require(t, "xfsprogs", "root", "loop")
	for _, p := range []string{"allfeatures", "defaults", "1k"} {
		t.Run(p, func(t *testing.T) {
			img := testimg.Copy(t, p)
			files := []string{"ag0/xattr/few", "ag0/xattr/many", "ag0/xattr/bigval"}
			mnt, umount := testimg.LoopMount(t, img, "ro")
			kernel := getfattr(t, mnt, files...)
			umount()
			im := openImage(t, img)
			for _, f := range files {
				ino := inodeOf(t, img, "/"+f)
				attrs := judgeFork(t, im, ino)
				sameView(t, f, linuxView(t, im, ino, attrs), kernel[f])
			}
		})
	}
}

// posixACL is a posix_acl_xattr value: owner rw-, user uid rwx,
// group r-x, group gid r--, mask rwx, other r--.
func posixACL(uid, gid uint32) []byte {
	return ACL{
		{Tag: ACLUserObj, Perm: 6}, {Tag: ACLUser, ID: uid, Perm: 7},
		{Tag: ACLGroupObj, Perm: 5}, {Tag: ACLGroup, ID: gid, Perm: 4},
		{Tag: ACLMask, Perm: 7}, {Tag: ACLOther, Perm: 4},
	}.LinuxXattr()
}

// populate sets, through the kernel, attributes in every namespace and
// format on files under mnt: shortform with an empty and a binary
// value and an ACL, a directory with access and default ACLs, a leaf,
// a node form with long names, remote values up to the largest, an ACL
// among many attributes, and a fork churned by removals and
// replacements. It returns the files.
func populate(t *testing.T, mnt string, blockSize int) []string {
	t.Helper()
	rng := rand.New(rand.NewPCG(uint64(blockSize), 14))
	value := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.UintN(256))
		}
		return b
	}
	set := func(f, name string, v []byte) {
		if err := syscall.Setxattr(filepath.Join(mnt, f), name, v, 0); err != nil {
			t.Fatalf("setxattr %s %s (%d bytes): %v", f, name, len(v), err)
		}
	}
	ns := []string{"user.", "trusted.", "security."}
	files := []string{"sf", "dir", "leaf", "node", "remote", "aclmany", "churn"}
	for _, f := range files {
		var err error
		if f == "dir" {
			err = os.Mkdir(filepath.Join(mnt, f), 0o755)
		} else {
			err = os.WriteFile(filepath.Join(mnt, f), []byte(f), 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	set("sf", "user.empty", nil)
	set("sf", "user.bin", []byte("\n\x00\xff\a\t\"\\?'"))
	set("sf", "trusted.t", []byte("abc"))
	set("sf", "security.s", []byte("q"))
	set("sf", LinuxACLAccess, posixACL(1234, 55))
	set("dir", LinuxACLAccess, posixACL(7, 8))
	set("dir", LinuxACLDefault, posixACL(1000, 1000))
	for i := range 24 {
		set("leaf", fmt.Sprintf("%sleaf%02d", ns[i%3], i), value(60))
	}
	// listxattr returns at most 64 KiB of names: 600 of 6 to 110 bytes.
	for i := range 600 {
		name := fmt.Sprintf("%sn%d-%s", ns[i%3], i, strings.Repeat("long", i%25))
		set("node", name, value(rng.IntN(120)))
	}
	set("node", "user."+strings.Repeat("L", 255-len("user.")), value(7)) // XATTR_NAME_MAX counts the prefix
	set("remote", "user.max", value(MaxValueLen))
	set("remote", "security.over", value(LocalMax(blockSize)+1))
	set("remote", "trusted.under", value(LocalMax(blockSize)/2))
	set("remote", "user.small", value(3))
	set("aclmany", LinuxACLAccess, posixACL(42, 43))
	for i := range 100 {
		set("aclmany", fmt.Sprintf("user.a%d", i), value(30))
	}
	for i := range 200 {
		set("churn", fmt.Sprintf("%sc%d", ns[i%3], i), value(40))
	}
	for i := 0; i < 200; i += 3 {
		if err := syscall.Removexattr(filepath.Join(mnt, "churn"), fmt.Sprintf("%sc%d", ns[i%3], i)); err != nil {
			t.Fatal(err)
		}
	}
	for i := 1; i < 200; i += 5 {
		if i%3 != 0 {
			set("churn", fmt.Sprintf("%sc%d", ns[i%3], i), value(min(2*blockSize, 9000)))
		}
	}
	return files
}

// TestKernelForks: attributes the kernel writes, in every namespace
// and format, on v5 filesystems of 1, 4 and 64 KiB blocks: our decoding
// of each fork (judged block by block by xfs_db) holds what getfattr
// showed on the mount.
func TestKernelForks(t *testing.T) {
	testimg.Require(t, "xfsprogs", "root", "loop")
	for _, bs := range []int{4096, 1024, 65536} {
		t.Run(fmt.Sprint(bs), func(t *testing.T) {
			img := xfsdbImage(t, []string{"-b", fmt.Sprintf("size=%d", bs)}, nil)
			mnt, umount := testimg.LoopMount(t, img, "rw")
			files := populate(t, mnt, bs)
			kernel := getfattr(t, mnt, files...)
			umount()
			im := openImage(t, img)
			formats := map[uint8]int{}
			for _, f := range files {
				ino := inodeOf(t, img, "/"+f)
				_, af := im.attrFork(t, ino)
				formats[af]++
				sameView(t, f, linuxView(t, im, ino, judgeFork(t, im, ino)), kernel[f])
			}
			if bs == 4096 && (formats[1] == 0 || formats[2]+formats[3] == 0) {
				t.Errorf("attr fork formats %v: want local and extents/btree", formats)
			}
			if !slices.Contains(files, "node") {
				t.Fatal("no node file")
			}
		})
	}
}

// kernelRefused reports whether getfattr's output says the kernel
// refused to read something: getfattr -d reports a failed getxattr on
// stderr and still exits 0. EUCLEAN is the kernel's EFSCORRUPTED;
// EINVAL is what xfs_acl_from_disk returns for an unknown ACL tag.
func kernelRefused(out string) bool {
	for _, msg := range []string{"Structure needs cleaning", "Input/output error", "Invalid argument"} {
		if strings.Contains(out, msg) {
			return true
		}
	}
	return false
}
