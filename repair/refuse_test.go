package repair

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xfsbox/xfsbox/internal/judge"
	"github.com/xfsbox/xfsbox/internal/testimg"
	"github.com/xfsbox/xfsbox/internal/xfsdb"
	"github.com/xfsbox/xfsbox/repair/fsys"
)

// TestRepairRefusals: every refusal names its reason and leaves the
// image exactly as it was.
func TestRepairRefusals(t *testing.T) {
	testimg.Require(t, "root", "xfsprogs", "loop")
	ctx := context.Background()

	t.Run("read-only", func(t *testing.T) {
		img := testimg.Copy(t, "defaults")
		fs, err := fsys.Open(img, fsys.OpenOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer fs.Close()
		_, err = Repair(ctx, fs, BnoBT, fsys.OneAG(0), RepairOptions{Force: true})
		if !errors.Is(err, ErrReadOnly) {
			t.Fatalf("repair of a read-only open: %v", err)
		}
	})

	t.Run("locked by another xfsbox", func(t *testing.T) {
		img := testimg.Copy(t, "defaults")
		fs := openRW(t, img)
		defer fs.Close()
		_, err := fsys.Open(img, fsys.OpenOptions{Writable: true})
		if err == nil || !strings.Contains(err.Error(), fmt.Sprint(os.Getpid())) {
			t.Fatalf("second writer: %v (want a refusal naming pid %d)", err, os.Getpid())
		}
	})

	t.Run("mounted by the kernel", func(t *testing.T) {
		img := testimg.Copy(t, "defaults")
		mnt := t.TempDir()
		if out, err := exec.Command("mount", "-o", "loop,ro,nouuid", img, mnt).CombinedOutput(); err != nil {
			t.Fatalf("mount: %v %s", err, out)
		}
		t.Cleanup(func() { exec.Command("umount", mnt).Run() })
		_, err := fsys.Open(img, fsys.OpenOptions{Writable: true})
		if err == nil || !strings.Contains(err.Error(), "mounted by the kernel") || !strings.Contains(err.Error(), mnt) {
			t.Fatalf("open of a mounted image: %v", err)
		}
	})

	t.Run("dirty log", func(t *testing.T) {
		img := testimg.Copy(t, "allfeatures")
		mnt := t.TempDir()
		if out, err := exec.Command("mount", "-o", "loop,nouuid", img, mnt).CombinedOutput(); err != nil {
			t.Fatalf("mount: %v %s", err, out)
		}
		mounted := true
		t.Cleanup(func() {
			if mounted {
				exec.Command("umount", mnt).Run()
			}
		})
		for i := 0; i < 50; i++ {
			os.WriteFile(filepath.Join(mnt, fmt.Sprintf("d%02d", i)), []byte("x"), 0o644)
		}
		ctx2, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		if out, err := exec.CommandContext(ctx2, "xfs_io", "-x", "-c", "shutdown -f", mnt).CombinedOutput(); err != nil {
			t.Fatalf("shutdown: %v %s", err, out)
		}
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Fatalf("umount: %v %s", err, out)
		}
		mounted = false
		before := testimg.FileSum(t, img)
		fs := openRW(t, img)
		_, err := Repair(ctx, fs, BnoBT, fsys.OneAG(0), RepairOptions{Force: true})
		fs.Close()
		if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "log is dirty") || !strings.Contains(err.Error(), "xfs_repair -L") {
			t.Fatalf("repair with a dirty log: %v", err)
		}
		if testimg.FileSum(t, img) != before {
			t.Fatal("a refused repair changed the image")
		}
	})

	t.Run("corrupt source", func(t *testing.T) {
		img := testimg.Copy(t, "allfeatures")
		if out, err := exec.Command("xfs_db", "-x", "-c", "agi 0", "-c", "addr root", "-c", "addr ptrs[1]",
			"-c", "fuzz -d recs[1].startino random", img).CombinedOutput(); err != nil {
			t.Fatalf("fuzz: %v %s", err, out)
		}
		before := testimg.FileSum(t, img)
		fs := openRW(t, img)
		_, err := Repair(ctx, fs, BnoBT, fsys.OneAG(0), RepairOptions{Force: true})
		fs.Close()
		if !errors.Is(err, ErrSourceCorrupt) || !strings.Contains(err.Error(), "inobt.") {
			t.Fatalf("repair over a corrupt inobt: %v", err)
		}
		if testimg.FileSum(t, img) != before {
			t.Fatal("a refused repair changed the image")
		}
	})

	t.Run("corrupt inodes", func(t *testing.T) {
		// Seven files' block counts wrong: the refusal names the first
		// five inodes, and how many more.
		img := testimg.Copy(t, "allfeatures")
		args := []string{"-x"}
		var inos []uint64
		for i := 1; i <= 7; i++ {
			p := fmt.Sprintf("/ag0/fmt/dirs/leaf/leaf-entry-with-a-forty-byte-name-%06d", i)
			o, err := xfsdb.Print(img, "path "+p, "print v3.inumber")
			if err != nil {
				t.Fatal(err)
			}
			ino, err := o.Uint("v3.inumber")
			if err != nil {
				t.Fatal(err)
			}
			inos = append(inos, ino)
			args = append(args, "-c", "path "+p, "-c", "write core.nblocks 3")
		}
		if out, err := exec.Command("xfs_db", append(args, img)...).CombinedOutput(); err != nil {
			t.Fatalf("xfs_db: %v %s", err, out)
		}
		before := testimg.FileSum(t, img)
		fs := openRW(t, img)
		// The inode scan, not the rmapbt, as the source of used space.
		_, err := Repair(ctx, fs, BnoBT, fsys.OneAG(0), RepairOptions{Force: true, FullScan: true})
		fs.Close()
		if !errors.Is(err, ErrSourceCorrupt) || !strings.Contains(err.Error(), "inode.nblocks") || !strings.Contains(err.Error(), "and 2 more") {
			t.Fatalf("repair over corrupt inodes: %v", err)
		}
		slices.Sort(inos)
		for i, ino := range inos {
			if named := strings.Contains(err.Error(), fmt.Sprint(ino)); named != (i < 5) {
				t.Errorf("refusal %q: inode %d named %v, want %v", err, ino, named, i < 5)
			}
		}
		if testimg.FileSum(t, img) != before {
			t.Fatal("a refused repair changed the image")
		}
	})

	t.Run("unknown structure", func(t *testing.T) {
		img := testimg.Copy(t, "defaults")
		fs := openRW(t, img)
		defer fs.Close()
		if _, err := ParseStructures([]string{"frobt"}); !errors.Is(err, ErrUnknownStruct) {
			t.Fatalf("unknown structure: %v", err)
		}
		if _, err := Repair(ctx, fs, 0, fsys.OneAG(0), RepairOptions{}); !errors.Is(err, ErrUnknownStruct) {
			t.Fatalf("no structure: %v", err)
		}
	})
}

// TestHeaderRepairs damages AGI fields and a secondary superblock, and
// wants each repair to leave xfs_repair -n and our check clean.
func TestHeaderRepairs(t *testing.T) {
	testimg.Require(t, "root", "xfsprogs")
	cases := []struct {
		nav        []string
		ag         uint32
		structures Structures
	}{
		{[]string{"agi 1", "fuzz -d count add"}, 1, AGI},
		{[]string{"agi 0", "fuzz -d freecount random"}, 0, AGI},
		{[]string{"agi 0", "fuzz -d unlinked[3] random"}, 0, AGI},
		{[]string{"agi 2", "fuzz -d seqno ones"}, 2, AGI},
		{[]string{"agi 0", "fuzz -d ino_blocks zeroes"}, 0, AGI},
		{[]string{"sb 3", "fuzz -d agblocks add"}, 3, SB},
		{[]string{"sb 1", "fuzz -d features_incompat random"}, 1, SB},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.nav, " "), func(t *testing.T) {
			img := testimg.Copy(t, "allfeatures")
			args := []string{"-x"}
			for _, n := range c.nav {
				args = append(args, "-c", n)
			}
			if out, err := exec.Command("xfs_db", append(args, img)...).CombinedOutput(); err != nil {
				t.Fatalf("fuzz: %v %s", err, out)
			}
			if codes(t, img) == nil {
				t.Fatal("the damage was not detected")
			}
			fs := openRW(t, img)
			res, err := repairOne(context.Background(), fs, c.structures, c.ag, RepairOptions{})
			fs.Close()
			if err != nil || res.NothingToDo {
				t.Fatalf("repair: %v (nothing to do: %v)", err, res != nil && res.NothingToDo)
			}
			if left := codes(t, img); len(left) > 0 {
				t.Fatalf("findings after the repair: %v", left)
			}
			if out, err := exec.Command("xfs_repair", "-n", img).CombinedOutput(); err != nil {
				t.Fatalf("xfs_repair -n after the repair: %v\n%s", err, out)
			}
		})
	}
}

// TestZeroedHeaders is fstests xfs/030: AG 1's AGF, AGI or AGFL sector
// zeroed, then `repair all` of AG 1 leaves xfs_repair -n and our check
// clean and the kernel happy, on each image the issue names: with the
// rmapbt (allfeatures, 1k) the inode chunks come from its OWN_INODES
// records, without it (defaults) from a search of the AG for inode
// clusters.
func TestZeroedHeaders(t *testing.T) {
	testimg.Require(t, "root", "xfsprogs", "loop")
	type sector struct {
		name string
		n    int
	}
	sectors := []sector{{"agf", fsys.SectorAGF}, {"agi", fsys.SectorAGI}, {"agfl", fsys.SectorAGFL}}
	type zcase struct {
		prof string
		sector
	}
	var cases []zcase
	for _, prof := range []string{"allfeatures", "defaults", "1k"} {
		for _, s := range sectors {
			cases = append(cases, zcase{prof, s})
		}
	}
	for _, c := range cases {
		t.Run(c.prof+"/"+c.name, func(t *testing.T) {
			img := testimg.Copy(t, c.prof)
			fs := openRW(t, img)
			off := fs.Geo.SectorOffset(1, c.n)
			if err := fs.Img.WriteAt(make([]byte, fs.Geo.SectSize), off); err != nil {
				t.Fatal(err)
			}
			fs.Close()
			if found := codes(t, img); len(found) == 0 {
				t.Fatalf("a zeroed %s sector: our check finds nothing", c.name)
			}
			fs = openRW(t, img)
			_, err := Repair(context.Background(), fs, All, fsys.OneAG(1), RepairOptions{})
			fs.Close()
			if err != nil {
				t.Fatal(err)
			}
			if left := codes(t, img); len(left) > 0 {
				t.Fatalf("findings after the repair: %v", left)
			}
			judge.RequireClean(t, img, "after repairing a zeroed "+c.name)
			judge.KernelVerify(t, img, testimg.Hashes(t, c.prof))
		})
	}
}
