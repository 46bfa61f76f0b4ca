package repair

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"testing"

	"github.com/xfsbox/xfsbox/internal/judge"
	"github.com/xfsbox/xfsbox/internal/testimg"
	"github.com/xfsbox/xfsbox/repair/check"
	"github.com/xfsbox/xfsbox/repair/fsys"
	"github.com/xfsbox/xfsbox/repair/store"
	"github.com/xfsbox/xfsbox/xfsformat"
)

// spaceMaps returns, for one AG, the free blocks (bnobt) and the blocks
// of the metadata a rebuild replaces (bnobt, cntbt, rmapbt, refcountbt
// blocks and the AGFL).
func spaceMaps(t *testing.T, fs *fsys.FS, agno uint32) (free, meta []bool) {
	t.Helper()
	n := fs.Geo.AGLength(agno)
	free, meta = make([]bool, n), make([]bool, n)
	ctx := context.Background()
	w := &fsys.Walk{FS: fs, AG: agno, Type: xfsformat.Bnobt, OnProblem: func(err error) { t.Fatalf("bnobt: %v", err) }}
	if err := w.Records(ctx, func(_ uint32, _ int, rec []byte) error {
		r := xfsformat.DecodeAllocRec(rec)
		for b := r.StartBlock; b < r.StartBlock+r.BlockCount; b++ {
			free[b] = true
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, bt := range []xfsformat.BtreeType{xfsformat.Bnobt, xfsformat.Cntbt, xfsformat.Rmapbt, xfsformat.Refcountbt, xfsformat.Inobt, xfsformat.Finobt} {
		if !fs.HasBtree(bt) {
			continue
		}
		w := &fsys.Walk{FS: fs, AG: agno, Type: bt}
		if err := w.Run(ctx, func(v *fsys.Visit) error { meta[v.AGBno] = true; return nil }); err != nil {
			t.Fatal(err)
		}
	}
	agf, _, _ := fs.ReadAGF(agno)
	agfl, _, _ := fs.ReadAGFL(agno)
	blocks, _ := agfl.Active(agf.FLFirst, agf.FLLast, agf.FLCount)
	for _, b := range blocks {
		meta[b] = true
	}
	return free, meta
}

func openRW(t *testing.T, img string) *fsys.FS {
	t.Helper()
	fs, err := fsys.Open(img, fsys.OpenOptions{Writable: true})
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

// TestForceRebuildHealthy rebuilds the free space, the inode btrees and
// the refcountbt of every AG of healthy images and wants: the same free-extent set apart from the blocks the
// new trees took, our check and xfs_repair -n clean, the kernel mounting
// it with every file's hash unchanged and surviving a write workload.
func TestForceRebuildHealthy(t *testing.T) {
	for _, prof := range []string{"allfeatures", "defaults", "1k"} {
		t.Run(prof, func(t *testing.T) {
			img := testimg.Copy(t, prof)
			fs := openRW(t, img)
			for agno := uint32(0); agno < fs.Geo.AGCount; agno++ {
				freeBefore, metaBefore := spaceMaps(t, fs, agno)
				what := BnoBT | InoBT
				if fs.Geo.Reflink {
					what |= RefcountBT
				}
				res, err := repairOne(context.Background(), fs, what, agno, RepairOptions{Force: true})
				if err != nil {
					t.Fatalf("ag %d: %v", agno, err)
				}
				if len(res.After) > 0 {
					t.Fatalf("ag %d: findings after the rebuild: %v", agno, res.After)
				}
				freeAfter, metaAfter := spaceMaps(t, fs, agno)
				for b := range freeBefore {
					was, is := freeBefore[b] || metaBefore[b], freeAfter[b] || metaAfter[b]
					if was != is {
						t.Fatalf("ag %d block %d: free-or-free-space-metadata was %v, is %v", agno, b, was, is)
					}
					if freeAfter[b] && metaAfter[b] {
						t.Fatalf("ag %d block %d is both free and metadata", agno, b)
					}
				}
			}
			if res, err := check.Check(context.Background(), fs, check.CheckOptions{}); err != nil || res.Findings.Corrupt() {
				t.Fatalf("check after rebuilds: %v %v", err, res.Findings.List())
			}
			fs.Close()
			judge.RequireClean(t, img, "after rebuilding every AG's free space")
			judge.KernelVerify(t, img, testimg.Hashes(t, prof))
		})
	}
}

// faultAfter is a Writer and FaultHook that stops the engine at its Nth
// durable step (block write, sync or journal step), as a crash would.
type faultAfter struct {
	fs    *fsys.FS
	n     int
	steps int
}

var errInjected = errors.New("injected crash")

func (f *faultAfter) step() error {
	f.steps++
	if f.steps > f.n {
		return errInjected
	}
	return nil
}

func (f *faultAfter) WriteAt(p []byte, off int64) error {
	if err := f.step(); err != nil {
		return err
	}
	return f.fs.Img.WriteAt(p, off)
}

func (f *faultAfter) Sync() error {
	if err := f.step(); err != nil {
		return err
	}
	return f.fs.Img.Sync()
}

func (f *faultAfter) ImageID() (store.ImageID, error) { return store.IdentifyImage(f.fs.Img) }

func (f *faultAfter) hook(string) error { return f.step() }

// TestCrashEveryStep stops one rebuild after each of its durable steps in
// turn. Reopening (which replays or drops the journal) must leave an
// image that checks exactly as before or clean, never worse, and a rerun
// must complete.
func TestCrashEveryStep(t *testing.T) {
	base := testimg.Image(t, "allfeatures")
	damaged := t.TempDir() + "/damaged.img"
	cp(t, base, damaged)
	if out, err := exec.Command("xfs_db", "-x", "-c", "agf 0", "-c", "fuzz -d freeblks add", damaged).CombinedOutput(); err != nil {
		t.Fatalf("xfs_db fuzz: %v %s", err, out)
	}
	before := codes(t, damaged)
	if len(before) == 0 {
		t.Fatal("the damage was not detected")
	}
	// Count the steps of a complete run.
	total := func() int {
		img := t.TempDir() + "/count.img"
		cp(t, damaged, img)
		fs := openRW(t, img)
		defer fs.Close()
		f := &faultAfter{fs: fs, n: 1 << 30}
		if _, err := repairOne(context.Background(), fs, BnoBT, 0, RepairOptions{Writer: f, Fault: f.hook}); err != nil {
			t.Fatal(err)
		}
		return f.steps
	}()
	if total < 10 {
		t.Fatalf("a rebuild took only %d durable steps", total)
	}
	work := t.TempDir() + "/crash.img"
	for n := 0; n < total; n++ {
		cp(t, damaged, work)
		fs := openRW(t, work)
		f := &faultAfter{fs: fs, n: n}
		_, err := repairOne(context.Background(), fs, BnoBT, 0, RepairOptions{Writer: f, Fault: f.hook})
		fs.Close()
		if !errors.Is(err, errInjected) {
			t.Fatalf("step %d: repair returned %v, want the injected crash", n, err)
		}
		after := codes(t, work) // reopening read-write replays or drops the journal
		if fmt.Sprint(after) != fmt.Sprint(before) && len(after) != 0 {
			t.Fatalf("crash after step %d/%d: findings %v, want %v (as before) or none", n, total, after, before)
		}
		fs = openRW(t, work)
		if _, err := repairOne(context.Background(), fs, BnoBT, 0, RepairOptions{}); err != nil {
			t.Fatalf("rerun after crash at step %d: %v", n, err)
		}
		fs.Close()
		if c := codes(t, work); len(c) != 0 {
			t.Fatalf("rerun after crash at step %d left %v", n, c)
		}
	}
	judge.RequireClean(t, work, "after the last crash and rerun")
	t.Logf("crashed at each of %d steps", total)
}

func codes(t *testing.T, img string) []string {
	t.Helper()
	fs := openRW(t, img)
	defer fs.Close()
	res, err := check.Check(context.Background(), fs, check.CheckOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range res.Findings.List() {
		out = append(out, f.Code)
	}
	return out
}

func cp(t *testing.T, from, to string) {
	t.Helper()
	os.Remove(to)
	os.Remove(store.JournalPath(to))
	if out, err := exec.Command("cp", "--sparse=always", from, to).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	os.Chmod(to, 0o644)
}

// repairOne is Repair of one AG, for the tests that look at its result.
func repairOne(ctx context.Context, fs *fsys.FS, what Structures, agno uint32, opts RepairOptions) (*RepairResult, error) {
	res, err := Repair(ctx, fs, what, fsys.OneAG(agno), opts)
	if len(res) == 0 {
		return nil, err
	}
	return res[0], err
}
