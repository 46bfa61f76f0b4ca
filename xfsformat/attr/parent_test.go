package attr

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/xfsbox/xfsbox/internal/testimg"
	"github.com/xfsbox/xfsbox/internal/xfsdb"
)

// fsIocGetVersion is FS_IOC_GETVERSION (_IOR('v', 1, long)): the
// inode's generation.
const fsIocGetVersion = 0x80087601

// parentPointer is a parent pointer as the kernel made it: the entry
// name and the directory's inode number and generation.
type parentPointer struct {
	name string
	dir  ParentRec
}

func (p parentPointer) String() string { return fmt.Sprintf("%d/%d:%q", p.dir.Ino, p.dir.Gen, p.name) }

// TestKernelParentPointers: the kernel writes parent pointers on a v5
// filesystem with the parent feature (xfsprogs 6.1's mkfs cannot make
// one: the feature bit is set by xfs_db, and the kernel mounts it with
// an empty root). Our decoding finds, for a file linked many times, one
// parent pointer per link (name, directory inode and generation as the
// kernel reports them), filed under the hash xfs_parent_hashval gives
// (node form) or in a clean shortform fork; getfattr shows none of them
// and everything else as we decode it.
func TestKernelParentPointers(t *testing.T) {
	testimg.Require(t, "xfsprogs", "root", "loop")
	img := xfsdbImage(t, nil, nil)
	o, err := xfsdb.Print(img, "sb 0", "print features_incompat")
	if err != nil {
		t.Fatal(err)
	}
	incompat, err := o.Uint("features_incompat")
	if err != nil {
		t.Fatal(err)
	}
	const incompatParent = 0x80 // XFS_SB_FEAT_INCOMPAT_PARENT
	if out, err := testimg.RunTimed(t, 60e9, "xfs_db", "-x", "-c", "sb 0", "-c", fmt.Sprintf("write -d features_incompat %#x", incompat|incompatParent), img); err != nil {
		t.Fatalf("setting the parent feature: %v\n%s", err, out)
	}
	mnt, umount := testimg.LoopMount(t, img, "rw")
	want := map[string][]parentPointer{}
	dirRec := func(dir string) ParentRec {
		f, err := os.Open(filepath.Join(mnt, dir))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		var st syscall.Stat_t
		if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
			t.Fatal(err)
		}
		gen, err := unix.IoctlGetInt(int(f.Fd()), fsIocGetVersion)
		if err != nil {
			t.Fatal(err)
		}
		return ParentRec{Ino: st.Ino, Gen: uint32(gen)}
	}
	for _, d := range []string{"d1", "d2", "d2/deep"} {
		if err := os.Mkdir(filepath.Join(mnt, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	link := func(file, dir, name string) {
		p := filepath.Join(mnt, dir, name)
		var err error
		if len(want[file]) == 0 {
			err = os.WriteFile(p, []byte(file), 0o644)
		} else {
			err = os.Link(filepath.Join(mnt, file), p)
		}
		if err != nil {
			t.Fatal(err)
		}
		want[file] = append(want[file], parentPointer{name, dirRec(dir)})
	}
	// "few": three links (shortform), "many": 150 (node form), with a
	// user attribute beside them; names of every length remainder.
	link("few", ".", "few")
	link("few", "d1", "other name")
	link("few", "d2/deep", "x")
	link("many", ".", "many")
	for i := range 150 {
		link("many", []string{"d1", "d2", "d2/deep"}[i%3], fmt.Sprintf("link%d%s", i, strings.Repeat("z", i%4)))
	}
	// A rename replaces a pointer, an unlink removes one.
	if err := os.Rename(filepath.Join(mnt, "d1", "link0"), filepath.Join(mnt, "d2", "renamed")); err != nil {
		t.Fatal(err)
	}
	want["many"][1] = parentPointer{"renamed", dirRec("d2")}
	if err := os.Remove(filepath.Join(mnt, "d2", "link1z")); err != nil {
		t.Fatal(err)
	}
	want["many"] = append(want["many"][:2], want["many"][3:]...)
	if err := syscall.Setxattr(filepath.Join(mnt, "many"), "user.beside", []byte("parents"), 0); err != nil {
		t.Fatal(err)
	}
	kernel := getfattr(t, mnt, "few", "many")
	inos := map[string]uint64{}
	for _, f := range []string{"few", "many"} {
		// xfs_db 6.1 cannot walk paths here: it calls the parent
		// pointers' attr forks corrupt.
		var st syscall.Stat_t
		if err := syscall.Stat(filepath.Join(mnt, f), &st); err != nil {
			t.Fatal(err)
		}
		inos[f] = st.Ino
	}
	umount()

	im := openImage(t, img)
	for _, file := range []string{"few", "many"} {
		ino := inos[file]
		f := openFork(t, im, ino)
		var got []parentPointer
		var attrs []decoded
		collect := func(a *Attr) error {
			if a.Err != nil {
				t.Errorf("%s: %v", file, a.Err)
				return nil
			}
			attrs = append(attrs, decoded{a.Flags, string(a.Name), a.Value})
			if a.Namespace() != Parent {
				return nil
			}
			rec, err := DecodeParentRec(a.Value)
			if err != nil {
				t.Errorf("%s: parent pointer %q: %v", file, a.Name, err)
			}
			got = append(got, parentPointer{string(a.Name), rec})
			return nil
		}
		report := func(e error) { t.Errorf("%s: %v", file, e) }
		opts := CheckOpts{V5: true, UUID: im.uuid(), Owner: ino, Daddr: f.daddr}
		if f.local != nil {
			err = CheckShortform(f.local, opts, report)
			if err == nil {
				err = WalkShortform(f.local, collect)
			}
		} else {
			err = CheckBlocks(f.reader(t), opts, report)
			if err == nil {
				err = WalkBlocks(f.reader(t), collect)
			}
		}
		if err != nil {
			t.Fatal(err)
		}
		if file == "many" && f.local != nil || file == "few" && f.local == nil {
			t.Errorf("%s: attr fork format %d", file, f.aformat)
		}
		t.Logf("%s (inode %d, attr fork format %d): %d parent pointers among %d attributes", file, ino, f.aformat, len(got), len(attrs))
		ws, gs := fmt.Sprint(sorted(want[file])), fmt.Sprint(sorted(got))
		if ws != gs {
			t.Errorf("%s: parent pointers\n%s\nthe kernel made\n%s", file, gs, ws)
		}
		sameView(t, file, linuxView(t, im, ino, attrs), kernel[file])
	}
}

func sorted(ps []parentPointer) []string {
	var s []string
	for _, p := range ps {
		s = append(s, p.String())
	}
	sort.Strings(s)
	return s
}
