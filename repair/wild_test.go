package repair

import (
	"context"
	"fmt"
	"math/bits"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/xfsbox/xfsbox/internal/judge"
	"github.com/xfsbox/xfsbox/internal/testimg"
	"github.com/xfsbox/xfsbox/repair/fsys"
	"github.com/xfsbox/xfsbox/repair/workspace"
	"github.com/xfsbox/xfsbox/xfsformat"
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
			if list := checkImage(t, img); len(list) > 0 {
				t.Fatalf("%d findings on a fresh %s image (a false alarm): %v", len(list), prof, list)
			}

			cp := testimg.Copy(t, prof)
			fs := openRW(t, cp)
			results, err := RepairAll(context.Background(), fs, []string{"all"}, RepairOptions{Force: true})
			if err != nil {
				fs.Close()
				t.Fatalf("repair all --force: %v", err)
			}
			for i, r := range results {
				if r != nil && len(r.After) > 0 {
					t.Errorf("ag %d: findings after the rebuild: %v", i, r.After)
				}
			}
			res, err := Check(context.Background(), fs, CheckOptions{AG: -1})
			fs.Close()
			if err != nil || res.Findings.Corrupt() {
				t.Fatalf("check after repair all --force: %v %v", err, res.Findings.List())
			}
			judge.RequireClean(t, cp, "after repair all --force")
			judge.KernelVerify(t, cp, testimg.Hashes(t, prof))
		})
	}
}

// TestChunkSourcesAgree finds every AG's inode chunks from each source a
// rebuild may use (the rmapbt's OWN_INODES blocks, the old inobt, a
// search of the AG) on healthy images of geometries that lay chunks out
// differently (chunks on cluster boundaries without sparse inodes, two
// chunks a block at 64 KiB, sparse chunks, 1 KiB blocks), and wants each
// to give exactly the inobt's chunks: start, holes and count.
func TestChunkSourcesAgree(t *testing.T) {
	profiles := slices.Concat([]string{"allfeatures", "defaults", "1k"}, testimg.WildProfiles())
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
			ws, err := workspace.New(ctx, withDefaults(workspace.Options{}, fs, ags))
			if err != nil {
				t.Fatal(err)
			}
			defer ws.Close()
			findings := &Findings{}
			checks, err := collect(ctx, fs, ags, ws, findings, nil, collectFull)
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
	res, err := Check(context.Background(), fs, CheckOptions{AG: -1})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(res.Findings.List(), func(f Finding) bool { return f.Code == "inobt.partial_block" }) {
		t.Fatalf("check does not see the lost block-mate chunk: %v", res.Findings.List())
	}
	r, err := Repair(context.Background(), fs, []string{"inobt"}, RepairOptions{AG: 0})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.After) > 0 || r.ChunkSource != ChunksFromRmapbt {
		t.Fatalf("after the repair (chunks from the %s): %v", r.ChunkSource, r.After)
	}
	if res, err := Check(context.Background(), fs, CheckOptions{AG: -1}); err != nil || res.Findings.Corrupt() {
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

// TestVerifyChunkRecords: the last check before a rebuilt inobt is
// staged refuses records that start where no chunk can, overlap, leave
// out a chunk of a block holding several, were never read, or name
// slots that do not hold their inodes.
func TestVerifyChunkRecords(t *testing.T) {
	geo := func(inopb uint32, align uint32) *xfsformat.Geometry {
		return &xfsformat.Geometry{InoPBlock: inopb, InoPBLog: uint(bits.TrailingZeros32(inopb)), InoAlignMt: align, InoAligned: true}
	}
	rec := func(start uint32) xfsformat.InobtRec {
		return xfsformat.InobtRec{StartIno: start, Count: 64}
	}
	uses := func(recs ...xfsformat.InobtRec) map[uint32]ChunkUse {
		m := map[uint32]ChunkUse{}
		for _, r := range recs {
			m[r.StartIno] = ChunkUse{Rec: r}
		}
		return m
	}
	for _, tc := range []struct {
		name string
		g    *xfsformat.Geometry
		recs []xfsformat.InobtRec
		use  map[uint32]ChunkUse
		ok   bool
	}{
		{"cluster-aligned chunks, 8 inodes a block", geo(8, 4), []xfsformat.InobtRec{rec(32), rec(96)}, nil, true},
		{"chunk off the inode alignment", geo(8, 8), []xfsformat.InobtRec{rec(32)}, nil, false},
		{"chunk inside a block", geo(8, 4), []xfsformat.InobtRec{rec(36)}, nil, false},
		{"overlapping chunks", geo(8, 4), []xfsformat.InobtRec{rec(32), rec(64)}, nil, false},
		{"both chunks of a 128-inode block", geo(128, 0), []xfsformat.InobtRec{rec(896), rec(960)}, nil, true},
		{"one chunk of a 128-inode block", geo(128, 0), []xfsformat.InobtRec{rec(896), rec(1024), rec(1088)}, nil, false},
		{"chunk never read", geo(128, 0), []xfsformat.InobtRec{rec(896), rec(960)}, uses(rec(896)), false},
		{"slot holding another inode", geo(128, 0), []xfsformat.InobtRec{rec(896), rec(960)},
			map[uint32]ChunkUse{896: {Rec: rec(896)}, 960: {Rec: rec(960), Foreign: 1 << 5}}, false},
	} {
		use := tc.use
		if use == nil {
			use = uses(tc.recs...)
		}
		err := verifyChunkRecords(tc.g, tc.recs, use)
		if (err == nil) != tc.ok {
			t.Errorf("%s: verify says %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

// TestInodeNumberStamp gives an inode the number of its neighbour, on
// images whose chunks do not sit on 64-inode block boundaries (the
// second chunk of a 64 KiB block; a chunk 32 inodes off without sparse
// inodes): our check must name the inode whose di_ino is not its slot's,
// as xfs_repair -n does.
func TestInodeNumberStamp(t *testing.T) {
	for prof, off := range map[string][2]uint32{"64k": {128, 64}, "nosparse": {64, 32}} {
		t.Run(prof, func(t *testing.T) {
			img := testimg.Copy(t, prof)
			chunks := inobtChunksOf(t, img, 0)
			var pick uint32
			found := false
			for _, c := range chunks {
				if c.StartIno%off[0] == off[1] && c.HoleMask == 0 {
					pick, found = c.StartIno+3, true
					break
				}
			}
			if !found {
				t.Fatalf("no chunk of AG 0 starts %d inodes past a %d-inode boundary: %v", off[1], off[0], head(chunkText(chunks)))
			}
			ino := uint64(pick) // AG 0: the AG inode number is the inode number
			if out, err := exec.Command("xfs_db", "-x", "-c", fmt.Sprintf("inode %d", ino), "-c", fmt.Sprintf("write -d v3.inumber %d", ino+1), img).CombinedOutput(); err != nil {
				t.Fatalf("xfs_db: %v\n%s", err, out)
			}
			list := checkImage(t, img)
			want := fmt.Sprintf("inode %d:", ino)
			if !slices.ContainsFunc(list, func(f Finding) bool {
				return f.Code == "inode.ino" && strings.Contains(f.Message, want)
			}) {
				t.Fatalf("check does not name inode %d's wrong di_ino: %v", ino, list)
			}
			if clean, _ := judge.XfsRepairN(t, img); clean {
				t.Fatalf("xfs_repair -n calls the image clean: the damage did not take")
			}
		})
	}
}

// checkImage runs our check of every AG of img, read-only, and returns
// its findings (every severity; suppressed ones fail the test).
func checkImage(t *testing.T, img string) []Finding {
	t.Helper()
	fs, err := fsys.Open(img, fsys.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	res, err := Check(context.Background(), fs, CheckOptions{AG: -1})
	if err != nil {
		t.Fatal(err)
	}
	if res.Findings.Suppressed > 0 {
		t.Fatalf("%d findings suppressed: %v", res.Findings.Suppressed, res.Findings.List())
	}
	return res.Findings.List()
}
