package testimg_test

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/xfsbox/xfsbox/internal/testimg"
	"github.com/xfsbox/xfsbox/internal/xfsdb"
)

// formatProbe is one on-disk format the recipe must reach: the path that
// reaches it, the xfs_db batches that show it (each run after "path
// PATH"; the first batch is always the inode itself) and what they must
// print.
type formatProbe struct {
	format  string
	path    string
	batches [][]string
	check   func(objs []*xfsdb.Object) error
}

// Magic numbers as xfs_db prints them (xfs_da_format.h, xfs_format.h).
const (
	magicDirBlock  = "0x58444233" // XDB3: single-block directory
	magicDirData   = "0x58444433" // XDD3: data block of a leaf or node directory
	magicDirLeaf1  = "0x3df1"     // XFS_DIR3_LEAF1_MAGIC: the one leaf of a leaf directory
	magicDirFree   = "0x58444633" // XDF3: free index block
	magicDa3Node   = "0x3ebe"     // XFS_DA3_NODE_MAGIC: da-btree node (directories and attrs)
	magicAttr3Leaf = "0x3bee"     // XFS_ATTR3_LEAF_MAGIC
	magicAttr3Rmt  = "0x5841524d" // XARM: remote attribute value block
	magicSymlink   = "0x58534c4d" // XSLM: remote symlink block
)

// TestImageFormats checks with xfs_db that the recipe's files reach every
// format a reader of files has to decode (directories shortform to node,
// attribute forks shortform to node with remote values, bmbts of two and
// three levels, inline and remote symlinks, device nodes, ACLs,
// nanosecond timestamps), on the images most tests use. A format the
// recipe stops reaching (a kernel that allocates differently, a change
// of the recipe) fails here rather than leaving the decoders untested.
func TestImageFormats(t *testing.T) {
	testimg.Require(t, "root", "xfsprogs", "loop")
	for _, p := range []string{"allfeatures", "defaults", "1k"} {
		t.Run(p, func(t *testing.T) {
			img := testimg.Image(t, p)
			sb, err := xfsdb.Print(img, "sb 0")
			if err != nil {
				t.Fatal(err)
			}
			blksz, err := sb.Uint("blocksize")
			if err != nil || blksz == 0 {
				t.Fatalf("blocksize %q: %v", sb.Value("blocksize"), err)
			}
			probes := formatProbes(blksz)
			var batches [][]string
			var first []int
			for _, pr := range probes {
				first = append(first, len(batches))
				batches = append(batches, []string{"path " + pr.path})
				for _, b := range pr.batches {
					batches = append(batches, append([]string{"path " + pr.path}, b...))
				}
			}
			objs, err := xfsdb.PrintMany(img, batches)
			if err != nil {
				t.Fatal(err)
			}
			for i, pr := range probes {
				got := objs[first[i] : first[i]+1+len(pr.batches)]
				if got[0].Empty() {
					t.Errorf("%s: %s: xfs_db printed nothing: %q", pr.format, pr.path, got[0].Messages)
					continue
				}
				if err := pr.check(got); err != nil {
					t.Errorf("%s: %s (inode %s): %v", pr.format, pr.path, got[0].Value("v3.inumber"), err)
					continue
				}
				t.Logf("%-44s inode %-8s %s", pr.format, got[0].Value("v3.inumber"), pr.path)
			}
		})
	}
}

func formatProbes(blksz uint64) []formatProbe {
	// Directory and attr block addresses are file offsets in filesystem
	// blocks; the leaf and free sections of a directory start at 32 and
	// 64 GiB.
	leafOff := strconv.FormatUint(32<<30/blksz, 10)
	freeOff := strconv.FormatUint(64<<30/blksz, 10)
	fmtDir := "/ag0/fmt/dirs/"
	// ablocks lists attr fork blocks 0..39 (unmapped ones print nothing).
	var ablocks [][]string
	for i := range 40 {
		ablocks = append(ablocks, []string{"ablock " + strconv.Itoa(i), "print hdr"})
	}
	return []formatProbe{
		{format: "dir shortform, empty", path: fmtDir + "empty", check: func(o []*xfsdb.Object) error {
			return all(want(o[0], "core.format", "1 (local)"), want(o[0], "u3.sfdir3.hdr.count", "0"))
		}},
		{format: "dir shortform, every file type", path: fmtDir + "short", check: func(o []*xfsdb.Object) error {
			if err := want(o[0], "core.format", "1 (local)"); err != nil {
				return err
			}
			var types []string
			for _, f := range o[0].Fields {
				if strings.HasPrefix(f.Name, "u3.sfdir3.list[") && strings.HasSuffix(f.Name, "].filetype") {
					types = append(types, f.Value)
				}
			}
			for ft := 1; ft <= 7; ft++ { // regular, dir, chr, blk, fifo, sock, symlink
				if !slices.Contains(types, strconv.Itoa(ft)) {
					return fmt.Errorf("no entry of file type %d (have %v)", ft, types)
				}
			}
			return nil
		}},
		{format: "dir block", path: fmtDir + "block",
			batches: [][]string{{"dblock 0", "print bhdr.hdr.magic"}},
			check: func(o []*xfsdb.Object) error {
				return all(want(o[0], "core.format", "2 (extents)"), want(o[1], "bhdr.hdr.magic", magicDirBlock))
			}},
		{format: "dir leaf", path: fmtDir + "leaf",
			batches: [][]string{{"dblock 0", "print dhdr.hdr.magic"}, {"dblock " + leafOff, "print lhdr.info.hdr.magic"}},
			check: func(o []*xfsdb.Object) error {
				return all(want(o[1], "dhdr.hdr.magic", magicDirData), want(o[2], "lhdr.info.hdr.magic", magicDirLeaf1))
			}},
		{format: "dir node (da node, free index)", path: fmtDir + "node",
			batches: [][]string{{"dblock " + leafOff, "print nhdr.info.hdr.magic"}, {"dblock " + freeOff, "print fhdr.hdr.magic"}},
			check: func(o []*xfsdb.Object) error {
				return all(want(o[1], "nhdr.info.hdr.magic", magicDa3Node), want(o[2], "fhdr.hdr.magic", magicDirFree))
			}},
		{format: "attr shortform, user trusted security", path: "/ag0/fmt/xattr/sf", check: func(o []*xfsdb.Object) error {
			if err := want(o[0], "core.aformat", "1 (local)"); err != nil {
				return err
			}
			return sfAttrNamespaces(o[0], "a", "b", "c")
		}},
		{format: "attr leaf", path: "/ag0/fmt/xattr/leaf",
			batches: [][]string{{"ablock 0", "print hdr.info.hdr.magic"}},
			check:   func(o []*xfsdb.Object) error { return want(o[1], "hdr.info.hdr.magic", magicAttr3Leaf) }},
		{format: "attr node, remote value", path: "/ag0/fmt/xattr/node", batches: ablocks,
			check: func(o []*xfsdb.Object) error {
				return all(want(o[1], "hdr.info.hdr.magic", magicDa3Node), remoteAttrBlock(o))
			}},
		{format: "attr leaf, remote value", path: "/ag0/fmt/xattr/remote", batches: ablocks,
			check: func(o []*xfsdb.Object) error {
				return all(want(o[1], "hdr.info.hdr.magic", magicAttr3Leaf), remoteAttrBlock(o))
			}},
		{format: "attr fork in btree format", path: "/ag0/xattr/many", check: func(o []*xfsdb.Object) error {
			return want(o[0], "core.aformat", "3 (btree)")
		}},
		{format: "POSIX ACL (access)", path: "/ag0/fmt/xattr/acl", check: func(o []*xfsdb.Object) error {
			return sfAttrNamespaces(o[0], "SGI_ACL_FILE")
		}},
		{format: "POSIX ACL (access, default)", path: "/ag0/fmt/xattr/acldir", check: func(o []*xfsdb.Object) error {
			return sfAttrNamespaces(o[0], "SGI_ACL_FILE", "SGI_ACL_DEFAULT")
		}},
		{format: "bmbt, two levels", path: "/ag0/punched", check: func(o []*xfsdb.Object) error {
			return all(want(o[0], "core.format", "3 (btree)"), atLeast(o[0], "u3.bmbt.level", 1))
		}},
		{format: "bmbt, three levels, unwritten extents", path: "/ag0/fmt/files/alternating", check: func(o []*xfsdb.Object) error {
			return all(want(o[0], "core.format", "3 (btree)"), atLeast(o[0], "u3.bmbt.level", 2), atLeast(o[0], "core.nextents", 1000))
		}},
		{format: "unwritten extent past EOF", path: "/ag0/fmt/files/prealloc-past-eof", check: func(o []*xfsdb.Object) error {
			size, err := o[0].Uint("core.size")
			if err != nil {
				return err
			}
			bmx := o[0].Array("u3.bmx")
			if bmx == nil {
				return fmt.Errorf("no u3.bmx")
			}
			for _, r := range bmx.Rows {
				off, _ := xfsdb.ParseUint(r[bmx.Column("startoff")])
				if r[bmx.Column("extentflag")] == "1" && off*blksz >= size {
					return nil
				}
			}
			return fmt.Errorf("no unwritten extent past size %d: %v", size, bmx.Rows)
		}},
		{format: "symlink inline", path: "/ag0/fmt/links/short", check: func(o []*xfsdb.Object) error {
			return want(o[0], "core.format", "1 (local)")
		}},
		{format: "symlink remote (XSLM)", path: "/ag0/fmt/links/long",
			batches: [][]string{{"dblock 0", "print magic"}},
			check: func(o []*xfsdb.Object) error {
				return all(want(o[0], "core.format", "2 (extents)"), want(o[0], "core.size", "1023"), want(o[1], "magic", magicSymlink))
			}},
		{format: "char device (major 300 minor 70000)", path: fmtDir + "short/chrbig", check: func(o []*xfsdb.Object) error {
			return all(want(o[0], "core.format", "0 (dev)"), want(o[0], "core.mode", "020644"),
				want(o[0], "u3.dev", "0x"+strconv.FormatUint(300<<18|70000, 16)))
		}},
		{format: "block device", path: fmtDir + "short/blk", check: func(o []*xfsdb.Object) error {
			return all(want(o[0], "core.format", "0 (dev)"), want(o[0], "core.mode", "060644"))
		}},
		{format: "fifo", path: fmtDir + "short/fifo", check: func(o []*xfsdb.Object) error {
			return want(o[0], "core.mode", "010644")
		}},
		{format: "socket", path: fmtDir + "short/sock", check: func(o []*xfsdb.Object) error {
			return want(o[0], "core.mode", "0140755")
		}},
		{format: "three hard links", path: "/ag0/fmt/files/linked", check: func(o []*xfsdb.Object) error {
			return want(o[0], "core.nlinkv2", "3")
		}},
		{format: "nanosecond timestamps", path: "/ag0/fmt/times/ns", check: func(o []*xfsdb.Object) error {
			return all(want(o[0], "core.mtime.nsec", "123456789"), want(o[0], "core.atime.nsec", "987654321"))
		}},
		{format: "timestamp before 1970", path: "/ag0/fmt/times/pre1970", check: func(o []*xfsdb.Object) error {
			return all(want(o[0], "core.mtime.nsec", "999999999"), want(o[0], "core.atime.nsec", "500000000"))
		}},
		{format: "owner above 2^31", path: "/ag0/fmt/modes/m0777", check: func(o []*xfsdb.Object) error {
			return all(want(o[0], "core.uid", "3000000000"), want(o[0], "core.gid", "3000000001"))
		}},
	}
}

// want checks one scalar field of an object.
func want(o *xfsdb.Object, name, value string) error {
	got, ok := o.Get(name)
	if !ok {
		return fmt.Errorf("%s not printed (messages %q)", name, o.Messages)
	}
	if got != value {
		return fmt.Errorf("%s = %s, want %s", name, got, value)
	}
	return nil
}

func atLeast(o *xfsdb.Object, name string, min uint64) error {
	n, err := o.Uint(name)
	if err != nil {
		return err
	}
	if n < min {
		return fmt.Errorf("%s = %d, want >= %d", name, n, min)
	}
	return nil
}

func all(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// remoteAttrBlock checks that one of the attr fork blocks printed after
// the inode is a remote value block of this inode.
func remoteAttrBlock(o []*xfsdb.Object) error {
	ino := o[0].Value("v3.inumber")
	for _, b := range o[1:] {
		if b.Value("hdr.magic") == magicAttr3Rmt && b.Value("hdr.owner") == ino {
			return nil
		}
	}
	return fmt.Errorf("no remote value block (%s) among its first %d attr blocks", magicAttr3Rmt, len(o)-1)
}

// sfAttrNamespaces checks that a shortform attr fork holds the names
// given; for three names (user, trusted, security), that they carry no
// flag, the root flag and the secure flag, in that order; for the ACL
// names, that they carry the root flag.
func sfAttrNamespaces(o *xfsdb.Object, names ...string) error {
	flags := make(map[string]string)
	for i := 0; ; i++ {
		p := fmt.Sprintf("a.sfattr.list[%d].", i)
		name, ok := o.Get(p + "name")
		if !ok {
			break
		}
		flags[strings.Trim(name, `"`)] = o.Value(p+"root") + o.Value(p+"secure")
	}
	for i, n := range names {
		want := "10" // root
		if len(names) == 3 {
			want = []string{"00", "10", "01"}[i]
		}
		got, ok := flags[n]
		if !ok {
			return fmt.Errorf("no shortform attr %q (have %v)", n, flags)
		}
		if got != want {
			return fmt.Errorf("attr %q: root,secure flags %s, want %s", n, got, want)
		}
	}
	return nil
}
