package repair

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os/exec"
	"path"
	"slices"
	"strings"
	"testing"

	"github.com/xfsbox/xfsbox/internal/judge"
	"github.com/xfsbox/xfsbox/internal/testimg"
	"github.com/xfsbox/xfsbox/repair/check"
	"github.com/xfsbox/xfsbox/repair/fsys"
	"github.com/xfsbox/xfsbox/repair/workspace"
	"github.com/xfsbox/xfsbox/xfsformat"
	"github.com/xfsbox/xfsbox/xfsformat/dir"
)

// TestWildMatrix runs every wild profile (each image builds in seconds)
// through what a user does first: the clean image must check clean (zero findings: a
// false alarm is a failure) and xfs_repair -n must agree; a forced
// repair of everything must leave our check and xfs_repair -n clean,
// and the kernel must mount the result with every file's hash unchanged
// and survive a write workload.
func TestWildMatrix(t *testing.T) {
	for _, prof := range testimg.WildProfiles() {
		t.Run(prof, func(t *testing.T) {
			img := testimg.Image(t, prof)
			judge.RequireClean(t, img, "fresh "+prof+" image")

			cp := testimg.Copy(t, prof)
			fs := openRW(t, cp)
			fresh, err := check.Check(context.Background(), fs, check.CheckOptions{})
			if err != nil {
				fs.Close()
				t.Fatal(err)
			}
			if list := fresh.Findings.List(); len(list) > 0 || fresh.Findings.Suppressed > 0 {
				fs.Close()
				t.Fatalf("%d findings (%d suppressed) on a fresh %s image (a false alarm): %v", len(list), fresh.Findings.Suppressed, prof, list)
			}
			results, err := Repair(context.Background(), fs, All, fsys.AllAGs, RepairOptions{Force: true})
			if err != nil {
				fs.Close()
				t.Fatalf("repair all --force: %v", err)
			}
			for i, r := range results {
				if r != nil && len(r.After) > 0 {
					t.Errorf("ag %d: findings after the rebuild: %v", i, r.After)
				}
			}
			res, err := check.Check(context.Background(), fs, check.CheckOptions{})
			fs.Close()
			if err != nil || res.Findings.Corrupt() {
				t.Fatalf("check after repair all --force: %v %v", err, res.Findings.List())
			}
			judge.RequireClean(t, cp, "after repair all --force")
			judge.KernelVerify(t, cp, testimg.Hashes(t, prof))
		})
	}
}

// TestParentRepair: on the parent profile (parent pointers, which
// xfs_repair 6.1 refuses), a forced repair of everything leaves our
// check clean, parent pointers included; the kernel mounts the result
// with every file's hash unchanged and survives its write workload (it
// writes parent pointers for every file it makes); and our check is
// clean again after that.
func TestParentRepair(t *testing.T) {
	testimg.Require(t, "root", "loop", "xfsprogs")
	cp := testimg.Copy(t, "parent")
	checkClean := func(fs *fsys.FS, when string) {
		t.Helper()
		res, err := check.Check(context.Background(), fs, check.CheckOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if list := res.Findings.List(); len(list) > 0 {
			t.Fatalf("%s: %d findings: %v", when, len(list), list)
		}
	}
	fs := openRW(t, cp)
	checkClean(fs, "fresh")
	if _, err := Repair(context.Background(), fs, All, fsys.AllAGs, RepairOptions{Force: true}); err != nil {
		fs.Close()
		t.Fatalf("repair all --force: %v", err)
	}
	checkClean(fs, "after repair all --force")
	fs.Close()
	if err := judge.KernelWorkload(cp, testimg.Hashes(t, "parent")); err != nil {
		t.Fatal(err)
	}
	fs = openRW(t, cp)
	defer fs.Close()
	checkClean(fs, "after the kernel's write workload")
}

// TestChunkSourcesAgree finds every AG's inode chunks from each source a
// rebuild may use (the rmapbt's OWN_INODES blocks, the old inobt, a
// search of the AG) on healthy images of geometries that lay chunks out
// differently (chunks on cluster boundaries without sparse inodes, two
// chunks a block at 64 KiB, sparse chunks, 1 KiB blocks), and wants each
// to give exactly the inobt's chunks: start, holes and count.
func TestChunkSourcesAgree(t *testing.T) {
	profiles := slices.Concat([]string{"allfeatures", "defaults", "1k"}, testimg.WildProfiles(), testimg.V4Profiles())
	for _, prof := range profiles {
		t.Run(prof, func(t *testing.T) {
			img := testimg.Image(t, prof)
			fs, err := fsys.Open(img, fsys.OpenOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer fs.Close()
			ctx := context.Background()
			var ags []uint32
			for agno := range fs.Geo.AGCount {
				ags = append(ags, agno)
			}
			ws, err := workspace.New(ctx, check.WorkspaceOptions(workspace.Options{}, fs, ags))
			if err != nil {
				t.Fatal(err)
			}
			defer ws.Close()
			findings := &check.Findings{}
			checks, err := check.Collect(ctx, fs, ags, ws, findings, nil, check.CollectFull)
			if err != nil {
				t.Fatal(err)
			}
			if list := findings.List(); len(list) > 0 {
				t.Fatalf("findings on a healthy image: %v", list)
			}
			sources := map[string]chunkSources{ChunksFromInobt: {inobt: true}, ChunksFromSearch: {}}
			if fs.Geo.Rmapbt {
				sources[ChunksFromRmapbt] = chunkSources{rmap: true}
			}
			for _, agno := range ags {
				want := inobtChunks(t, fs, agno)
				for name, sound := range sources {
					got, source, err := findInodeChunks(ctx, fs, checks[agno], sound)
					if err != nil {
						t.Fatalf("ag %d, chunks from the %s: %v", agno, name, err)
					}
					if source != name {
						t.Fatalf("ag %d: asked for the %s, got chunks from the %s", agno, name, source)
					}
					if g, w := chunkText(got), chunkText(want); !slices.Equal(g, w) {
						t.Fatalf("ag %d, chunks from the %s:\n got %d %v\nwant %d %v", agno, name, len(g), head(g), len(w), head(w))
					}
				}
			}
		})
	}
}

// inobtChunks reads AG agno's inobt records as chunk geometry.
func inobtChunks(t *testing.T, fs *fsys.FS, agno uint32) []xfsformat.InobtRec {
	t.Helper()
	var out []xfsformat.InobtRec
	w := &fsys.Walk{FS: fs, AG: agno, Type: xfsformat.Inobt, OnProblem: func(err error) { t.Fatalf("inobt: %v", err) }}
	err := w.Records(context.Background(), func(_ uint32, _ int, raw []byte) error {
		out = append(out, xfsformat.DecodeInobtRec(raw, fs.Geo.SparseInodes))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func chunkText(recs []xfsformat.InobtRec) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = fmt.Sprintf("%d/%#x/%d", r.StartIno, r.HoleMask, r.Count)
	}
	return out
}

func head(s []string) []string { return s[:min(len(s), 12)] }

// TestLostBlockMateChunk drops the last record of AG 0's inobt on the
// 64 KiB-block image, where a block holds two chunks: the chunk lost is
// the second of its block, whose space the first still claims, so only
// the rule that a block's chunks come together sees it (what a rebuild
// that numbered chunks by block left behind, reported clean). Our check
// must name it, and a repair of the inobt must bring the chunk back
// (from the rmapbt), leaving xfs_repair -n clean.
func TestLostBlockMateChunk(t *testing.T) {
	img := testimg.Copy(t, "64k")
	before := inobtChunksOf(t, img, 0)
	if len(before) < 2 || before[len(before)-1].StartIno%xfsformat.InodesPerChunk != 0 {
		t.Fatalf("AG 0 has %d chunks", len(before))
	}
	out, err := exec.Command("xfs_db", "-x", "-c", "agi 0", "-c", "addr root", "-c", "print level numrecs", img).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "level = 0") {
		t.Fatalf("AG 0's inobt is not a single leaf: %v\n%s", err, out)
	}
	n := len(before)
	if out, err := exec.Command("xfs_db", "-x", "-c", "agi 0", "-c", "addr root", "-c", fmt.Sprintf("write -d numrecs %d", n-1), img).CombinedOutput(); err != nil {
		t.Fatalf("xfs_db: %v\n%s", err, out)
	}
	fs := openRW(t, img)
	res, err := check.Check(context.Background(), fs, check.CheckOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(res.Findings.List(), func(f check.Finding) bool { return f.Code == "inobt.partial_block" }) {
		t.Fatalf("check does not see the lost block-mate chunk: %v", res.Findings.List())
	}
	r, err := repairOne(context.Background(), fs, InoBT, 0, RepairOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.After) > 0 || r.ChunkSource != ChunksFromRmapbt {
		t.Fatalf("after the repair (chunks from the %s): %v", r.ChunkSource, r.After)
	}
	if res, err := check.Check(context.Background(), fs, check.CheckOptions{}); err != nil || res.Findings.Corrupt() {
		t.Fatalf("check after the repair: %v %v", err, res.Findings.List())
	}
	fs.Close()
	if got := inobtChunksOf(t, img, 0); !slices.Equal(chunkText(got), chunkText(before)) {
		t.Fatalf("chunks after the repair:\n got %v\nwant %v", head(chunkText(got)), head(chunkText(before)))
	}
	judge.RequireClean(t, img, "after repairing the inobt")
}

func inobtChunksOf(t *testing.T, img string, agno uint32) []xfsformat.InobtRec {
	t.Helper()
	fs, err := fsys.Open(img, fsys.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	return inobtChunks(t, fs, agno)
}

// TestV4Matrix is TestWildMatrix for the v4 images, which no kernel
// here mounts: a fresh image checks clean (ours and xfs_repair -n),
// repair all --force leaves both clean, and every file read through our
// own reader afterwards hashes as its source did when mkfs -p copied it.
func TestV4Matrix(t *testing.T) {
	testimg.Require(t, "xfsprogs")
	for _, prof := range testimg.V4Profiles() {
		t.Run(prof, func(t *testing.T) {
			img := testimg.Image(t, prof)
			judge.RequireClean(t, img, "fresh "+prof+" image")
			cp := testimg.Copy(t, prof)
			fs := openRW(t, cp)
			defer fs.Close()
			ctx := context.Background()
			fresh, err := check.Check(ctx, fs, check.CheckOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if list := fresh.Findings.List(); len(list) > 0 || fresh.Findings.Suppressed > 0 {
				t.Fatalf("%d findings on a fresh %s image (a false alarm): %v", len(list), prof, list)
			}
			results, err := Repair(ctx, fs, All, fsys.AllAGs, RepairOptions{Force: true})
			if err != nil {
				t.Fatalf("repair all --force: %v", err)
			}
			for i, r := range results {
				if r != nil && len(r.After) > 0 {
					t.Errorf("ag %d: findings after the rebuild: %v", i, r.After)
				}
			}
			res, err := check.Check(ctx, fs, check.CheckOptions{})
			if err != nil || res.Findings.Corrupt() {
				t.Fatalf("check after repair all --force: %v %v", err, res.Findings.List())
			}
			judge.RequireClean(t, cp, "after repair all --force")
			hashes := testimg.Hashes(t, prof)
			got := hashTree(t, fs)
			for p, want := range hashes {
				if got[p] != want {
					t.Errorf("%s: sha256 %q after the repair, its source %s", p, got[p], want)
				}
			}
			if len(got) != len(hashes) {
				t.Errorf("%d regular files read, the source had %d", len(got), len(hashes))
			}
		})
	}
}

// hashTree reads every regular file under the root through fsys and
// returns path -> sha256 (hex), paths relative to the root.
func hashTree(t *testing.T, fs *fsys.FS) map[string]string {
	t.Helper()
	out := map[string]string{}
	var walk func(p string, ino uint64)
	walk = func(p string, ino uint64) {
		d, err := fs.Inode(ino)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		var ents []dir.Entry
		if err := fs.ReadDir(d, 0, func(e dir.Entry) error {
			e.Name = slices.Clone(e.Name)
			ents = append(ents, e)
			return nil
		}); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		for _, e := range ents {
			name := string(e.Name)
			if name == "." || name == ".." {
				continue
			}
			cp := path.Join(p, name)
			in, err := fs.Inode(e.Ino)
			if err != nil {
				t.Fatalf("%s: %v", cp, err)
			}
			switch in.FileType() {
			case xfsformat.ModeDir:
				walk(cp, e.Ino)
			case xfsformat.ModeRegular:
				h := sha256.New()
				if _, err := io.Copy(h, io.NewSectionReader(fileReader{fs, in}, 0, int64(in.Size))); err != nil {
					t.Fatalf("%s: %v", cp, err)
				}
				out[cp] = hex.EncodeToString(h.Sum(nil))
			}
		}
	}
	walk("", fs.RootIno())
	return out
}

type fileReader struct {
	fs *fsys.FS
	in *fsys.Inode
}

func (r fileReader) ReadAt(p []byte, off int64) (int, error) { return r.fs.ReadFileAt(r.in, p, off) }
