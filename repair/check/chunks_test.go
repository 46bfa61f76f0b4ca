package check

import (
	"fmt"
	"math/bits"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/xfsbox/xfsbox/internal/judge"
	"github.com/xfsbox/xfsbox/internal/testimg"
	"github.com/xfsbox/xfsbox/xfsformat"
)

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
		err := VerifyChunkRecords(tc.g, tc.recs, use)
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
			var chunks []xfsformat.InobtRec
			for _, c := range runScan(t, openProfile(t, img)).chunks {
				if c.AG == 0 { // in the inobt's order
					chunks = append(chunks, c.Rec)
				}
			}
			var pick uint32
			found := false
			for _, c := range chunks {
				if c.StartIno%off[0] == off[1] && c.HoleMask == 0 {
					pick, found = c.StartIno+3, true
					break
				}
			}
			if !found {
				t.Fatalf("no chunk of AG 0 starts %d inodes past a %d-inode boundary (of %d chunks)", off[1], off[0], len(chunks))
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
