package check

import (
	"fmt"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/xfsbox/xfsbox/internal/judge"
	"github.com/xfsbox/xfsbox/internal/testimg"
	"github.com/xfsbox/xfsbox/internal/xfsdb"
)

// entryField is the xfs_db field prefix ("u3.sfdir3.list[2]", "bu[18]")
// of the entry called name in the directory object nav prints.
func entryField(t *testing.T, img, name string, nav ...string) string {
	t.Helper()
	o, err := xfsdb.Print(img, nav...)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range o.Fields {
		if p, ok := strings.CutSuffix(f.Name, ".name"); ok && f.Value == strconv.Quote(name) {
			return p
		}
	}
	t.Fatalf("%v: no entry %q", nav, name)
	return ""
}

// xfsdbWrite runs the xfs_db commands cmds on img, in expert mode.
func xfsdbWrite(t *testing.T, img string, cmds []string) {
	t.Helper()
	args := []string{"-x"}
	for _, c := range cmds {
		args = append(args, "-c", c)
	}
	if out, err := exec.Command("xfs_db", append(args, img)...).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
}

// unnameEmpty returns the xfs_db commands that make files/empty's entry
// name files/tail-hole instead (its link count one up), leaving
// files/empty with its link and no entry, and files/empty's inode.
func unnameEmpty(t *testing.T, img string) (uint64, []string) {
	const files = "/ag0/fmt/files"
	empty, tail := inoOf(t, img, files+"/empty"), inoOf(t, img, files+"/tail-hole")
	f := entryField(t, img, "empty", "path "+files)
	return empty, []string{"path " + files, "write " + f + ".inumber.i4 " + strconv.FormatUint(tail, 10),
		"inode " + strconv.FormatUint(tail, 10), "write core.nlinkv2 " + strconv.FormatUint(nlinkOf(t, img, tail)+1, 10)}
}

// nlinkOf is the link count xfs_db prints for inode ino.
func nlinkOf(t *testing.T, img string, ino uint64) uint64 {
	t.Helper()
	return printUint(t, img, "core.nlinkv2", "inode "+strconv.FormatUint(ino, 10))
}

// cutOffBelow counts the inodes below directory p (not p itself), as
// xfs_db's ls lists them, that have no name elsewhere: each directory,
// and each other inode whose names below p are all its links.
func cutOffBelow(t *testing.T, img, p string) int {
	t.Helper()
	names := map[uint64]int{}
	dirs := map[uint64]bool{}
	var walk func(p string)
	walk = func(p string) {
		out, err := exec.Command("xfs_db", "-r", "-c", "path "+p, "-c", "ls", img).CombinedOutput()
		if err != nil {
			t.Fatalf("xfs_db ls %s: %v: %s", p, err, out)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			f := strings.Fields(line)
			if len(f) < 6 || f[5] == "." || f[5] == ".." {
				continue
			}
			ino, err := strconv.ParseUint(f[1], 10, 64)
			if err != nil {
				t.Fatalf("xfs_db ls %s: %q", p, line)
			}
			names[ino]++
			if f[2] == "directory" && !dirs[ino] {
				dirs[ino] = true
				walk(p + "/" + f[5])
			}
		}
	}
	walk(p)
	n := 0
	for ino, k := range names {
		if dirs[ino] || uint64(k) == nlinkOf(t, img, ino) {
			n++
		}
	}
	return n
}

// TestCheckReachability: directories cut off from the root with every
// link count made consistent by hand (so that only the walk from the
// root can see it), judged by xfs_repair -n's phase 6: a tree cut off
// from its parent is reported once, at its top; a cycle of directories
// cut off is reported once, with the directories cut off below it, and
// its directories' ".." against the entries that name them
// (dir.parent); a directory with a second name, its ".." naming one of
// the two, is a dir.parent too.
func TestCheckReachability(t *testing.T) {
	testimg.Require(t, "xfsprogs")
	const fmtDirs = "/ag0/fmt/dirs"
	// repoint makes the entry name of directory dirPath (nav: how to
	// reach its entries from the inode) name ino with file type ft.
	repoint := func(t *testing.T, img, dirPath, name string, ino uint64, ft int, nav ...string) []string {
		f := entryField(t, img, name, append([]string{"path " + dirPath}, nav...)...)
		num := f + ".inumber"
		if strings.HasPrefix(f, "u3.sfdir") {
			num += ".i4"
		}
		// By number: an earlier edit may have re-pointed the path.
		nav = append([]string{"inode " + strconv.FormatUint(inoOf(t, img, dirPath), 10)}, nav...)
		return append(nav, "write "+num+" "+strconv.FormatUint(ino, 10), "write "+f+".filetype "+strconv.Itoa(ft))
	}
	below := -1 // inodes a case's one report must count as cut off (-1: not counted)
	nlink := func(t *testing.T, img string, ino uint64, delta int) []string {
		n := int64(nlinkOf(t, img, ino)) + int64(delta)
		return []string{"inode " + strconv.FormatUint(ino, 10), "write core.nlinkv2 " + strconv.FormatInt(n, 10)}
	}
	for _, tc := range []struct {
		name string
		// parent: the check must report dir.parent, and xfs_repair -n
		// an entry against a "..".
		parent bool
		// damage returns the xfs_db commands and the directories the
		// check must call unreachable.
		damage func(t *testing.T, img string) ([]string, []uint64)
	}{
		{"cut off", false, func(t *testing.T, img string) ([]string, []uint64) {
			// dirs/block's entry names files/empty instead: the block
			// directory and its subdir are cut off, their "..", still
			// name their parents. The report counts what is cut off
			// below it (a separate pass over the files' edges since
			// the walk from the root goes over directories alone).
			below = cutOffBelow(t, img, fmtDirs+"/block")
			block, empty := inoOf(t, img, fmtDirs+"/block"), inoOf(t, img, "/ag0/fmt/files/empty")
			cmds := repoint(t, img, fmtDirs, "block", empty, 1)
			cmds = append(cmds, nlink(t, img, empty, 1)...)
			cmds = append(cmds, nlink(t, img, block, -1)...)
			return cmds, []uint64{block}
		}},
		{"cycle", true, func(t *testing.T, img string) ([]string, []uint64) {
			// dirs/short and dirs/block name each other instead of
			// their subdirectories, and dirs names files in their place.
			short, block := inoOf(t, img, fmtDirs+"/short"), inoOf(t, img, fmtDirs+"/block")
			sdir, bsub := inoOf(t, img, fmtDirs+"/short/dir"), inoOf(t, img, fmtDirs+"/block/subdir")
			empty, tail := inoOf(t, img, "/ag0/fmt/files/empty"), inoOf(t, img, "/ag0/fmt/files/tail-hole")
			var cmds []string
			cmds = append(cmds, repoint(t, img, fmtDirs, "block", empty, 1)...)
			cmds = append(cmds, repoint(t, img, fmtDirs, "short", tail, 1)...)
			cmds = append(cmds, repoint(t, img, fmtDirs+"/block", "subdir", short, 2, "dblock 0")...)
			cmds = append(cmds, repoint(t, img, fmtDirs+"/short", "dir", block, 2)...)
			for _, n := range []struct {
				ino   uint64
				delta int
			}{{empty, 1}, {tail, 1}, {sdir, -1}, {bsub, -1}} {
				cmds = append(cmds, nlink(t, img, n.ino, n.delta)...)
			}
			// The two subdirectories cut off, and the cycle once.
			return cmds, []uint64{sdir, bsub, min(short, block)}
		}},
		{"second name", true, func(t *testing.T, img string) ([]string, []uint64) {
			// files/linked (three names) loses its files/ one to
			// dirs/short/dir, whose ".." still names dirs/short.
			linked, sdir := inoOf(t, img, "/ag0/fmt/files/linked"), inoOf(t, img, fmtDirs+"/short/dir")
			cmds := repoint(t, img, "/ag0/fmt/files", "linked", sdir, 2)
			cmds = append(cmds, nlink(t, img, linked, -1)...)
			return append(cmds, nlink(t, img, sdir, 1)...), nil
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img := testimg.Copy(t, "allfeatures")
			below = -1
			cmds, want := tc.damage(t, img)
			xfsdbWrite(t, img, cmds)
			clean, out := judge.XfsRepairN(t, img)
			if clean {
				t.Fatal("xfs_repair -n finds the damage clean: the case proves nothing")
			}
			for _, ino := range want {
				if !strings.Contains(out, "disconnected dir inode "+strconv.FormatUint(ino, 10)) {
					t.Errorf("xfs_repair -n does not call directory %d disconnected:\n%s", ino, out)
				}
			}
			if tc.parent && !strings.Contains(out, "already connected") && !strings.Contains(out, "consistent with ..") {
				t.Errorf("xfs_repair -n does not hold an entry against a \"..\":\n%s", out)
			}
			var got []uint64
			parent := false
			for _, f := range checkImage(t, img) {
				switch {
				case f.Code == "inode.unreachable":
					got = append(got, f.Ino)
					if n := fmt.Sprintf("; %d inodes below it are cut off with it", below); below >= 0 && !strings.Contains(f.Message, n) {
						t.Errorf("%s: want %q (xfs_db counts %d below it with no other name)", f.Message, n, below)
					}
				case f.Code == "dir.parent" && tc.parent:
					parent = true
				default:
					// The counts were made consistent: only the walk sees it.
					t.Errorf("finding besides reachability: %v", f)
				}
			}
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("unreachable directories %v, want %v", got, want)
			}
			if parent != tc.parent {
				t.Errorf("dir.parent reported: %v, want %v", parent, tc.parent)
			}
		})
	}
}

// TestCheckUnlinked: an inode in use with no links and no entry (one
// removed while open) is recovery's to free when the log is dirty, and a
// leak when it is clean, on an AGI unlinked list or not: xfs_repair -n
// calls it disconnected then, and so does our check (inode.unlinked).
// On an image left with a dirty log by a shutdown while a removed file
// was open, our check only warns that the log is dirty.
func TestCheckUnlinked(t *testing.T) {
	testimg.Require(t, "xfsprogs")
	for _, onList := range []bool{true, false} {
		t.Run("onlist="+strconv.FormatBool(onList), func(t *testing.T) {
			img := testimg.Copy(t, "allfeatures")
			empty, cmds := unnameEmpty(t, img)
			cmds = append(cmds, "inode "+strconv.FormatUint(empty, 10), "write core.nlinkv2 0")
			if onList {
				var part [2]uint64 // the AG, the inode in it, as xfs_db converts them
				for i, unit := range []string{"agno", "agino"} {
					out, err := xfsdb.Run(img, "convert inode "+strconv.FormatUint(empty, 10)+" "+unit)
					if err == nil {
						part[i], err = xfsdb.ParseUint(strings.TrimSpace(out))
					}
					if err != nil {
						t.Fatalf("convert %s: %q: %v", unit, out, err)
					}
				}
				cmds = append(cmds, "agi "+strconv.FormatUint(part[0], 10), "write unlinked["+strconv.FormatUint(part[1]%64, 10)+"] "+strconv.FormatUint(part[1], 10))
			}
			xfsdbWrite(t, img, cmds)
			if _, out := judge.XfsRepairN(t, img); !strings.Contains(out, "disconnected inode "+strconv.FormatUint(empty, 10)) {
				t.Fatalf("xfs_repair -n does not call inode %d disconnected:\n%s", empty, out)
			}
			got := checkImage(t, img)
			if len(got) != 1 || got[0].Code != "inode.unlinked" || !strings.Contains(got[0].Message, strconv.FormatUint(empty, 10)) {
				t.Errorf("check: %v, want inode.unlinked of inode %d alone", got, empty)
			}
		})
	}
	t.Run("dirty log", func(t *testing.T) {
		img := testimg.DirtyLogAt(t, "allfeatures", "unlinked", "", true, 0)
		for _, f := range checkImage(t, img) {
			if f.Code != "log.dirty" {
				t.Errorf("finding on a dirty log's image: %v", f)
			}
		}
	})
}

// TestCheckQuotaInodes: a superblock naming a user quota inode (a file
// no entry names: files/empty, its entry re-pointed; the kernel here
// has no quota support to make a real one) with the quota bit set gets
// a warning naming the inode, and nothing else, as xfs_repair -n finds
// nothing; without the bit the inode is an orphan, as xfs_repair -n
// calls it disconnected.
func TestCheckQuotaInodes(t *testing.T) {
	testimg.Require(t, "xfsprogs")
	for _, bit := range []bool{true, false} {
		t.Run("quotabit="+strconv.FormatBool(bit), func(t *testing.T) {
			img := testimg.Copy(t, "allfeatures")
			version := printUint(t, img, "versionnum", "sb 0")
			if bit {
				version |= 0x40
			} else {
				version &^= 0x40
			}
			empty, cmds := unnameEmpty(t, img)
			cmds = append(cmds, "sb 0", "write uquotino "+strconv.FormatUint(empty, 10), "write qflags 1", "write versionnum "+strconv.FormatUint(version, 10))
			xfsdbWrite(t, img, cmds)
			want := "inode.orphan"
			if bit {
				want = "quota.present"
				judge.RequireClean(t, img, "a user quota inode")
			} else if _, out := judge.XfsRepairN(t, img); !strings.Contains(out, "disconnected inode "+strconv.FormatUint(empty, 10)) {
				t.Fatalf("xfs_repair -n does not call inode %d disconnected:\n%s", empty, out)
			}
			got := checkImage(t, img)
			if len(got) != 1 || got[0].Code != want || got[0].Ino != empty {
				t.Errorf("check: %v, want %s of inode %d alone", got, want, empty)
			}
			if bit && got[0].Severity != Warning {
				t.Errorf("%v: not a warning", got[0])
			}
		})
	}
}
