package replay_test

import (
	"bytes"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/xfsbox/xfsbox/internal/xfsdb"
	"github.com/xfsbox/xfsbox/repair/replay"
)

// The logical judge, for shutdown points where the after-work rebuilt
// AGs (repair.ReplayLog: inodes freed from the unlinked lists, intents
// finished, copy-on-write staging freed): the rebuilt trees lie in
// other blocks than the kernel's, packed their own way, so their blocks
// cannot be byte-equal to the kernel's. What must be equal is what they
// say, as xfs_db prints it:
//
//   - for every AG, the records of the rmapbt (but for the owners of
//     btree blocks and the AGFL: spareOwners), refcountbt, inobt and
//     finobt, as btdump prints their leaves;
//   - for every AG, its spare blocks: those free (the bnobt's records),
//     on the AGFL, or holding one of the AG's btrees (every level's
//     blocks, as btdump -i lists them): the same set in both. It stands
//     for the bnobt's and cntbt's records, which differ exactly where the
//     trees' blocks do;
//   - the AGF, AGI, AGFL and superblocks field by field, but for the
//     fields naming where the trees are or how many blocks they take
//     (agfRebuilt, agiRebuilt, agflRebuilt, sbRebuilt, each with why);
//   - every other block outside the log byte for byte, but for inodes,
//     which print the same field for field (a freed inode but for
//     freedInodeFields).
//
// The rest of runPoint's judges stand as for every point: files read the
// same through the kernel, xfs_repair -n and our check find nothing, the
// log is clean.

// agfRebuilt are the AGF fields a rebuild sets its own way.
var agfRebuilt = map[string]string{
	"bnoroot": "a root's block", "cntroot": "a root's block", "rmaproot": "a root's block", "refcntroot": "a root's block",
	"bnolevel": "a tree's height, with its packing", "cntlevel": "a tree's height, with its packing",
	"rmaplevel": "a tree's height, with its packing", "refcntlevel": "a tree's height, with its packing",
	"rmapblocks": "a tree's block count, with its packing", "refcntblocks": "a tree's block count, with its packing",
	"btreeblks": "the free-space and rmap trees' blocks, with their packing",
	"flfirst":   "the AGFL's ring: the rebuild refills it from slot 0", "fllast": "the AGFL's ring",
	"flcount":  "the AGFL holds what the new trees' minimum needs, the kernel's what its allocations left",
	"freeblks": "free blocks less the trees' and the AGFL's own (the spare set is compared instead)",
	"longest":  "the longest free extent depends on where the trees' blocks went (the spare set is compared instead)",
	"lsn":      "the kernel stamps its last write's LSN, a rebuild 0", "crc": "covers the rest",
}

// agiRebuilt are the AGI fields a rebuild sets its own way.
var agiRebuilt = map[string]string{
	"root": "a root's block", "free_root": "a root's block",
	"level": "a tree's height, with its packing", "free_level": "a tree's height, with its packing",
	"iblocks": "a tree's block count, with its packing", "fblocks": "a tree's block count, with its packing",
	"lsn": "the kernel stamps its last write's LSN, a rebuild 0", "crc": "covers the rest",
}

// agflRebuilt are the AGFL fields a rebuild sets its own way.
var agflRebuilt = map[string]string{
	"bno": "the AGFL's blocks (in the spare set, compared)",
	"lsn": "the kernel stamps its last write's LSN", "crc": "covers the rest",
}

// sbRebuilt are the primary superblock's fields that follow the
// rebuilt trees (besides sbFieldsTheKernelStamps).
var sbRebuilt = map[string]string{
	"fdblocks": "counts the free-space and rmap trees' blocks as free, not the inode and refcount trees': with the trees packed another way it differs (xfs_repair -n holds it to the AGFs)",
}

// freedInodeFields are the fields of an inode the after-work freed that
// may differ from the kernel's.
var freedInodeFields = map[string]string{
	"v3.change_count": "the kernel bumps it in every transaction of the inactivation (one per roll of the truncate), a number of its own",
	"v3.lsn":          "the kernel stamps the LSN of the transaction that freed the inode",
	"v3.crc":          "covers the rest",
}

// spareOwners are the rmap owners of the blocks in the spare set: the
// free-space trees, the rmapbt and the AGFL (OWN_AG), the inode btrees
// (OWN_INOBT), the refcountbt (OWN_REFC).
var spareOwners = map[string]bool{"-5": true, "-6": true, "-8": true}

// agTrees are the AG btrees, by the header and the field of their root,
// and the read-only-compatible feature bit they need (0: always there).
var agTrees = []struct {
	name, hdr, root string
	roCompat        uint64
}{
	{"bnobt", "agf", "bnoroot", 0}, {"cntbt", "agf", "cntroot", 0}, {"rmapbt", "agf", "rmaproot", 2},
	{"refcntbt", "agf", "refcntroot", 4}, {"inobt", "agi", "root", 0}, {"finobt", "agi", "free_root", 1},
}

// agLogical is one AG as xfs_db prints it, for the logical comparison.
type agLogical struct {
	agf, agi, agfl, sb *xfsdb.Object
	recs               map[string][]string // leaf records by tree (bnobt and cntbt kept out)
	spare              map[uint32]bool     // AG blocks free, on the AGFL, or holding the AG's btrees
}

var (
	btdumpHeader = regexp.MustCompile(`^(\w+) level (\d+) block \d+ daddr (\d+)`)
	btdumpRow    = regexp.MustCompile(`^\d+:\[(.*)\]\s*$`)
)

// readLogical reads AG agno of img through xfs_db.
func readLogical(t *testing.T, img string, g xfsdb.Geometry, agno uint32) *agLogical {
	t.Helper()
	objs, err := xfsdb.PrintMany(img, [][]string{{fmt.Sprintf("agf %d", agno)}, {fmt.Sprintf("agi %d", agno)},
		{fmt.Sprintf("agfl %d", agno)}, {fmt.Sprintf("sb %d", agno)}})
	if err != nil {
		t.Fatal(err)
	}
	l := &agLogical{agf: objs[0], agi: objs[1], agfl: objs[2], sb: objs[3], recs: map[string][]string{}, spare: map[uint32]bool{}}
	agStart := uint64(agno) * uint64(g.AGBlocks)
	var batches [][]string
	var names []string
	roCompat, err := l.sb.Uint("features_ro_compat")
	if err != nil {
		t.Fatalf("%s: sb %d features_ro_compat: %v", img, agno, err)
	}
	for _, tr := range agTrees {
		if roCompat&tr.roCompat != tr.roCompat {
			continue
		}
		hdr := l.agf
		if tr.hdr == "agi" {
			hdr = l.agi
		}
		if v, ok := hdr.Get(tr.root); !ok || v == "0" || xfsdb.IsNull(v) {
			continue
		}
		names = append(names, tr.name)
		batches = append(batches, []string{fmt.Sprintf("%s %d", tr.hdr, agno), "addr " + tr.root, "btdump -i"})
	}
	outs, err := xfsdb.RunMany(img, batches)
	if err != nil {
		t.Fatal(err)
	}
	addSpare := func(start, n uint64) {
		for b := start; b < start+n && n < 1<<32; b++ {
			l.spare[uint32(b)] = true
		}
	}
	for i, out := range outs {
		level := -1
		for line := range strings.SplitSeq(out, "\n") {
			if m := btdumpHeader.FindStringSubmatch(line); m != nil {
				level, _ = strconv.Atoi(m[2])
				daddr, _ := strconv.ParseUint(m[3], 10, 64)
				addSpare(daddr*512/uint64(g.BlockSize)-agStart, 1)
				continue
			}
			m := btdumpRow.FindStringSubmatch(strings.TrimSpace(line))
			if m == nil || level != 0 {
				continue
			}
			cols := strings.Split(m[1], ",")
			switch names[i] {
			case "bnobt":
				start, e1 := strconv.ParseUint(cols[0], 10, 64)
				n, e2 := strconv.ParseUint(cols[1], 10, 64)
				if e1 != nil || e2 != nil {
					t.Fatalf("%s AG %d: bnobt record %q", img, agno, line)
				}
				addSpare(start, n)
			case "cntbt":
			case "rmapbt":
				if !spareOwners[cols[2]] {
					l.recs[names[i]] = append(l.recs[names[i]], m[1])
				}
			default:
				l.recs[names[i]] = append(l.recs[names[i]], m[1])
			}
		}
	}
	first, _ := l.agf.Uint("flfirst")
	count, _ := l.agf.Uint("flcount")
	if bno := l.agfl.Array("bno"); bno != nil && bno.Len() > 0 {
		for i := range count {
			v, ok := bno.Value(int((first + i) % uint64(bno.Len())))
			b, err := strconv.ParseUint(v, 10, 32)
			if !ok || err != nil {
				t.Fatalf("%s AG %d: AGFL slot %d = %q", img, agno, (first+i)%uint64(bno.Len()), v)
			}
			addSpare(b, 1)
		}
	}
	return l
}

// compareFields holds object b to a field for field and row for row,
// but for the fields of skip.
func compareFields(t *testing.T, what string, a, b *xfsdb.Object, skip ...map[string]string) {
	t.Helper()
	skipped := func(name string) bool {
		for _, m := range skip {
			if _, ok := m[name]; ok {
				return true
			}
		}
		return false
	}
	for _, d := range fieldDiff(a, b) {
		name, _, _ := strings.Cut(d, " ")
		if base, _, ok := strings.Cut(name, "["); ok {
			name = base
		}
		if !skipped(name) {
			t.Errorf("%s: %s (the kernel's replay | xfsbox's)", what, d)
		}
	}
	if len(a.Fields) != len(b.Fields) || len(a.Arrays) != len(b.Arrays) {
		t.Errorf("%s: %d fields and %d arrays after the kernel's replay, %d and %d after xfsbox's", what, len(a.Fields), len(a.Arrays), len(b.Fields), len(b.Arrays))
	}
}

// judgeLogically compares a (the kernel's replay) and b (xfsbox's, with
// after-work that rebuilt AGs) as described above.
func judgeLogically(t *testing.T, p shutdownPoint, a, b string, logFrom, logTo int64, res *replay.Result) {
	t.Helper()
	g, err := xfsdb.ReadGeometry(a)
	if err != nil {
		t.Fatal(err)
	}
	spare := map[uint32]map[uint32]bool{}
	for agno := range g.AGCount {
		la, lb := readLogical(t, a, g, agno), readLogical(t, b, g, agno)
		where := fmt.Sprintf("%s: AG %d", p, agno)
		compareFields(t, where+" agf", la.agf, lb.agf, agfRebuilt)
		compareFields(t, where+" agi", la.agi, lb.agi, agiRebuilt)
		compareFields(t, where+" agfl", la.agfl, lb.agfl, agflRebuilt)
		if agno == 0 {
			compareFields(t, where+" sb", la.sb, lb.sb, sbFieldsTheKernelStamps, sbRebuilt)
		} else {
			compareFields(t, where+" sb", la.sb, lb.sb)
		}
		for _, tr := range agTrees {
			ra, rb := la.recs[tr.name], lb.recs[tr.name]
			if !slices.Equal(ra, rb) {
				t.Errorf("%s %s: %d records after the kernel's replay, %d after xfsbox's; first difference: %s", where, tr.name, len(ra), len(rb), firstDiff(ra, rb))
			}
		}
		var onlyA, onlyB []uint32
		for blk := range la.spare {
			if !lb.spare[blk] {
				onlyA = append(onlyA, blk)
			}
		}
		for blk := range lb.spare {
			if !la.spare[blk] {
				onlyB = append(onlyB, blk)
			}
		}
		if len(onlyA)+len(onlyB) > 0 {
			slices.Sort(onlyA)
			slices.Sort(onlyB)
			t.Errorf("%s: spare blocks (free, AGFL, btrees) differ: %d only after the kernel's replay (%v), %d only after xfsbox's (%v)",
				where, len(onlyA), onlyA[:min(len(onlyA), 12)], len(onlyB), onlyB[:min(len(onlyB), 12)])
		}
		spare[agno] = la.spare
		for blk := range lb.spare {
			spare[agno][blk] = true
		}
	}
	compareOtherBlocks(t, p, a, b, g, logFrom, logTo, spare, res.Freed)
}

// firstDiff shows where two record lists part.
func firstDiff(a, b []string) string {
	for i := range max(len(a), len(b)) {
		var x, y string
		if i < len(a) {
			x = a[i]
		}
		if i < len(b) {
			y = b[i]
		}
		if x != y {
			return fmt.Sprintf("record %d: [%s] | [%s]", i+1, x, y)
		}
	}
	return "none"
}

// compareOtherBlocks holds every block outside the log, the AG headers
// and the spare sets to byte equality, but inodes, which must print the
// same (a freed inode but for freedInodeFields).
func compareOtherBlocks(t *testing.T, p shutdownPoint, a, b string, g xfsdb.Geometry, logFrom, logTo int64, spare map[uint32]map[uint32]bool, freed []uint64) {
	t.Helper()
	fa, fb := openPair(t, a, b)
	bs := int64(g.BlockSize)
	agBytes := int64(g.AGBlocks) * bs
	headerBlocks := (4*int64(g.SectSize) + bs - 1) / bs
	isize, inoLog := inodeGeometry(t, a)
	var inodes []uint64
	for _, off := range diffBlocks(t, a, b, logFrom, logTo) {
		for blk := off / bs * bs; blk < off+4096; blk += bs {
			agno, agbno := uint32(blk/agBytes), uint32(blk%agBytes/bs)
			if spare[agno][agbno] || int64(agbno) < headerBlocks {
				continue
			}
			ba, bb := make([]byte, bs), make([]byte, bs)
			if _, err := fa.ReadAt(ba, blk); err != nil {
				t.Fatal(err)
			}
			if _, err := fb.ReadAt(bb, blk); err != nil {
				t.Fatal(err)
			}
			if bytes.Equal(ba, bb) {
				continue
			}
			if string(ba[:2]) != "IN" || string(bb[:2]) != "IN" {
				t.Errorf("%s: block %d of AG %d (byte %d) differs after the kernel's replay and xfsbox's, and is no AG header, free, AGFL or btree block:\n%s", p, agbno, agno, blk, explain(a, b, blk/4096*4096))
				continue
			}
			for i := int64(0); i < bs; i += isize {
				if !bytes.Equal(ba[i:i+isize], bb[i:i+isize]) {
					agino := uint64(agbno)<<inoLog | uint64(i/isize)
					inodes = append(inodes, uint64(agno)<<(uint64(g.AGBlkLog)+inoLog)|agino)
				}
			}
		}
	}
	var batches [][]string
	for _, ino := range inodes {
		batches = append(batches, []string{fmt.Sprintf("inode %d", ino)})
	}
	oa, err := xfsdb.PrintMany(a, batches)
	if err != nil {
		t.Fatal(err)
	}
	ob, err := xfsdb.PrintMany(b, batches)
	if err != nil {
		t.Fatal(err)
	}
	for i, ino := range inodes {
		var skip map[string]string
		if slices.Contains(freed, ino) {
			skip = freedInodeFields
		}
		compareFields(t, fmt.Sprintf("%s: inode %d", p, ino), oa[i], ob[i], skip)
	}
	t.Logf("%s: judged logically (after-work rebuilt AGs); %d inodes differ in bytes and were compared as xfs_db prints them", p, len(inodes))
}

// inodeGeometry is img's inode size and log2 of inodes per block.
func inodeGeometry(t *testing.T, img string) (isize int64, inopblog uint64) {
	t.Helper()
	sb, err := xfsdb.Print(img, "sb 0")
	if err != nil {
		t.Fatal(err)
	}
	n, err1 := sb.Uint("inodesize")
	l, err2 := sb.Uint("inopblog")
	if err1 != nil || err2 != nil || n == 0 {
		t.Fatalf("%s: inodesize %d (%v), inopblog %d (%v)", img, n, err1, l, err2)
	}
	return int64(n), l
}
