package history

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xfsbox/xfsbox/internal/logprint"
	"github.com/xfsbox/xfsbox/internal/testimg"
	"github.com/xfsbox/xfsbox/repair/fsys"
	"github.com/xfsbox/xfsbox/xfsformat"
	xlog "github.com/xfsbox/xfsbox/xfsformat/log"
	"golang.org/x/sys/unix"
)

// geometry reads an unmounted image's geometry.
func geometry(t *testing.T, img string) xfsformat.Geometry {
	t.Helper()
	fs := openRO(t, img)
	g := *fs.Geo
	fs.Close()
	return g
}

// deletedImage makes the ground truth's image: the standard files
// written, about half deleted (every deletable kind among them), a clean
// unmount.
func deletedImage(t *testing.T, dir string) (string, *writer) {
	img := mkfsImage(t, dir, "deleted.img", 512<<20)
	g := geometry(t, img)
	mnt, umount := testimg.LoopMount(t, img, "loop")
	w := groundTruth(t, mnt, "", &g, 200)
	gone := map[string]bool{"tiny": true, "mid": true, "sparse": true, "grow": true, "frag8a": true, "frag30a": true,
		"empty": true, "emptied": true, "rewritten": true, "prealloc": true, "dir1": true, "lnk": true, "lnklong": true}
	i := 0
	w.remove(func(f *truthFile) bool {
		i++
		return gone[f.name] || (f.kind == "file" && strings.HasPrefix(f.name, "dir2/") && i%2 == 0)
	})
	// The many-extent files go while the log is forced over and over,
	// so that their truncations span checkpoints.
	root, err := os.Open(mnt)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for end := time.Now().Add(3 * time.Second); time.Now().Before(end); {
			unix.Syncfs(int(root.Fd()))
		}
	}()
	w.remove(func(f *truthFile) bool { return strings.HasPrefix(f.name, "dir3/") })
	<-done
	root.Close()
	umount()
	return img, w
}

// TestScanHistoryDeleted: the ground truth's image, its log read whole
// after a clean unmount (the tail at the head). Every file has a life
// in the log; each deleted one was freed (a mode-0 snapshot after its
// live state), and its last live state has the size, generation and
// (extents format) extent list the kernel showed; the btree-format ones
// have their root logged. The scan leaves the image as it was.
func TestScanHistoryDeleted(t *testing.T) {
	dir := testimg.TmpfsDir(t)
	img, w := deletedImage(t, dir)
	fs := openRO(t, img)
	before := testimg.FileSum(t, img)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	byIno := map[uint64]*truthFile{}
	for _, f := range w.files {
		byIno[f.ino] = f
	}
	snaps := map[uint64][]*InodeSnapshot{}
	var lastLSN uint64
	st, err := Scan(ctx, fs, Visitor{Inode: func(s *InodeSnapshot) error {
		if s.LSN < lastLSN {
			t.Errorf("inode %d at LSN %s after %s", s.Ino, xlog.LSNText(s.LSN), xlog.LSNText(lastLSN))
		}
		lastLSN = s.LSN
		if s.Core.Magic != 0x494e || (s.Core.Version == 3 && s.Core.Ino != s.Ino) {
			t.Errorf("inode item %d: core magic %#x ino %d", s.Ino, s.Core.Magic, s.Core.Ino)
		}
		if byIno[s.Ino] != nil {
			snaps[s.Ino] = append(snaps[s.Ino], s)
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("stats %+v", st)
	lives, st2, err := LastLives(ctx, fs, func(ino uint64) bool { return byIno[ino] != nil })
	if err != nil || st2 != st {
		t.Fatalf("LastLives: %v, stats %+v", err, st2)
	}
	// Deleted files by what is checked of them: an extent list, a
	// btree root, a size (directories, symlinks), a truncation to zero.
	var deleted, found [4]int
	const byList, byRoot, bySize, byCut = 0, 1, 2, 3
	cuts := 0
	for _, f := range w.files {
		h := lives[f.ino]
		ss := snaps[f.ino]
		if h == nil {
			t.Errorf("%s (ino %d, %s, deleted %v): no life in the log (%d snapshots)", f.name, f.ino, f.kind, f.deleted, len(ss))
			continue
		}
		class := bySize
		switch {
		case f.emptied:
			class = byCut
		case f.kind == "file" && h.Live.Core.Format == xfsformat.FmtBtree:
			class = byRoot
		case f.kind == "file":
			class = byList
		}
		if f.deleted {
			deleted[class]++
		}
		var bad []string
		if f.deleted != (h.FreedLSN != 0) {
			bad = append(bad, "freed at "+xlog.LSNText(h.FreedLSN))
		}
		if h.Cut != nil && h.Cut.Core.Nlink == 0 {
			cuts++
		}
		switch {
		case f.emptied && (h.Cut == nil || h.Cut.Core.Nlink == 0 || h.Live.Core.Size == 0):
			bad = append(bad, "emptied while linked, but no such cut after a live state")
		case f.emptied:
			found[class]++
			continue
		}
		if h.Live.Core.Size != uint64(f.size) {
			bad = append(bad, "size "+itoa(h.Live.Core.Size)+" want "+itoa(uint64(f.size)))
		}
		if f.kind == "file" && h.Generation != f.gen {
			bad = append(bad, "generation "+itoa(uint64(h.Generation))+" want "+itoa(uint64(f.gen)))
		}
		if h.Freed != nil && h.Freed.Gen != h.Generation+1 {
			bad = append(bad, "freed with generation "+itoa(uint64(h.Freed.Gen)))
		}
		if class == byList && (h.Live.Core.Format != xfsformat.FmtExtents || !h.ExtentsKnown || !slices.Equal(h.Extents, f.extents)) {
			bad = append(bad, "extents "+extText(h.Extents)+" known "+boolText(h.ExtentsKnown)+" want "+extText(f.extents))
		}
		if f.name == "lnk" && (h.Local == nil || uint64(len(h.Local)) < h.Live.Core.Size || string(h.Local[:h.Live.Core.Size]) != "tiny") {
			bad = append(bad, "inline target "+string(h.Local))
		}
		if class == byRoot && h.BtreeRoot == nil || f.kind == "file" && len(f.extents) > 21 && class != byRoot {
			bad = append(bad, "no logged btree root")
		}
		if len(bad) > 0 {
			t.Errorf("%s (ino %d, %s, deleted %v, %d snapshots): %v", f.name, f.ino, f.kind, f.deleted, len(ss), bad)
			for _, s := range ss {
				t.Logf("  %s mode %o nlink %d size %d fmt %d next %d fields %v ext %s", xlog.LSNText(s.LSN), s.Core.Mode, s.Core.Nlink, s.Core.Size,
					s.Core.Format, s.Core.DataExtents(), xlog.ILogNames(s.Fields), extText(s.Extents))
			}
			continue
		}
		if f.deleted {
			found[class]++
		}
	}
	t.Logf("deleted files found: %d of %d extents-format files with their size and exact extent list, %d of %d btree-format files with their size and root, "+
		"%d of %d directories and symlinks with their size, %d of %d truncated to zero before the deletion as such; %d inactivations seen in mid-truncation",
		found[byList], deleted[byList], found[byRoot], deleted[byRoot], found[bySize], deleted[bySize], found[byCut], deleted[byCut], cuts)
	if testimg.FileSum(t, img) != before {
		t.Fatal("the scan changed the image")
	}
}

func itoa(v uint64) string { return xfsformat.FieldDec("", v).Text }

func boolText(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func extText(recs []xfsformat.BmbtRec) string {
	s := "["
	for i, r := range recs {
		if i > 0 {
			s += " "
		}
		s += itoa(r.StartOff) + ":" + itoa(r.StartBlock) + "+" + itoa(uint64(r.BlockCount))
		if r.Unwritten {
			s += "u"
		}
	}
	return s + "]"
}

// churn changes metadata on mnt in rounds, to fill and wrap a small log:
// each round writes per files of a few hundred bytes, removes every
// third, and syncs, a checkpoint of several records.
func churn(t *testing.T, mnt string, rounds, per int) {
	t.Helper()
	dir := filepath.Join(mnt, "churn")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for r := 0; r < rounds; r++ {
		for i := 0; i < per; i++ {
			p := filepath.Join(dir, fmt.Sprintf("c%03d-%04d", r, i))
			if err := os.WriteFile(p, make([]byte, 100+i%400), 0o644); err != nil {
				t.Fatal(err)
			}
			if i%3 == 0 {
				os.Remove(p)
			}
		}
		testimg.RunTimed(t, time.Minute, "sync", "-f", mnt)
	}
}

// logprintRecords parses xfs_logprint's plain output of img: every record
// of the physical log, by LSN.
func logprintRecords(t *testing.T, img string) map[uint64]*logprint.Record {
	t.Helper()
	out, err := logprint.Run(5*time.Minute, img)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := logprint.ParseRecords(out)
	if err != nil {
		t.Fatal(err)
	}
	m := map[uint64]*logprint.Record{}
	for _, r := range recs {
		m[xlog.MakeLSN(r.LSN[0], r.LSN[1])] = r
	}
	return m
}

// expectedIncomplete counts, over xfs_logprint's records taken in LSN
// order, the transactions seen in part: COMMIT ops whose START op is not
// among them, and START ops whose COMMIT is not; and the transactions
// seen whole.
func expectedIncomplete(recs map[uint64]*logprint.Record) (incomplete, whole int) {
	lsns := slices.Sorted(maps.Keys(recs))
	open := map[uint32]bool{}
	for _, lsn := range lsns {
		for _, op := range recs[lsn].Ops {
			switch {
			case strings.Contains(op.Flags, "START"):
				open[op.TID] = true
			case strings.Contains(op.Flags, "UNMOUNT"):
				delete(open, op.TID)
			case strings.Contains(op.Flags, "COMMIT") && open[op.TID]:
				delete(open, op.TID)
				whole++
			case strings.Contains(op.Flags, "COMMIT"):
				incomplete++
			}
		}
	}
	return incomplete + len(open), whole
}

// scanAll scans with every callback set, checking what each is handed,
// and returns the stats and the LSNs of the records.
func scanAll(t *testing.T, fs *fsys.FS) (Stats, []uint64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var lsns []uint64
	var inodes, bufs, intents int
	st, err := Scan(ctx, fs, Visitor{
		Record: func(r *RecordSnapshot) error {
			if len(lsns) > 0 && r.LSN <= lsns[len(lsns)-1] {
				t.Errorf("record %s after %s", xlog.LSNText(r.LSN), xlog.LSNText(lsns[len(lsns)-1]))
			}
			lsns = append(lsns, r.LSN)
			return nil
		},
		Inode: func(s *InodeSnapshot) error {
			inodes++
			if s.Core.Magic != 0x494e || s.Core.Version != 3 || s.Core.Ino != s.Ino {
				t.Errorf("inode item %d at %s: core magic %#x version %d ino %d", s.Ino, xlog.LSNText(s.LSN), s.Core.Magic, s.Core.Version, s.Core.Ino)
			}
			if s.Extents != nil && uint64(len(s.Extents)) != s.Core.DataExtents() {
				t.Errorf("inode %d at %s: %d extents logged, the core says %d", s.Ino, xlog.LSNText(s.LSN), len(s.Extents), s.Core.DataExtents())
			}
			return nil
		},
		Buffer: func(b *BufferSnapshot) error {
			bufs++
			for _, r := range b.Regions {
				if r.Offset < 0 || r.Offset+len(r.Data) > int(b.Len)*512 {
					t.Errorf("buffer %d+%d at %s: region %d+%d", b.Daddr, b.Len, xlog.LSNText(b.LSN), r.Offset, len(r.Data))
				}
			}
			return nil
		},
		Intent: func(*IntentSnapshot) error { intents++; return nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("stats %+v: %d inode, %d buffer, %d intent items", st, inodes, bufs, intents)
	return st, lsns
}

// TestScanHistoryWrapped: a small log churned round more than once, then
// the ground truth's files written and some deleted. The scan reads the
// same records as xfs_logprint, counts the transactions they hold in
// part as xfs_logprint's op list implies, and what it says of the
// deleted files it finds is true.
func TestScanHistoryWrapped(t *testing.T) {
	dir := testimg.TmpfsDir(t)
	img := mkfsImage(t, dir, "wrapped.img", 256<<20, "-l", "size=1368b")
	g := geometry(t, img)
	mnt, umount := testimg.LoopMount(t, img, "loop")
	churn(t, mnt, 60, 300)
	// Files written, then the log wrapped, then deleted: the log keeps
	// the end of their lives at most.
	old := groundTruth(t, mnt, "old", &g, 30)
	churn(t, mnt, 60, 300)
	w := groundTruth(t, mnt, "new", &g, 30)
	for _, w := range []*writer{old, w} {
		w.remove(func(f *truthFile) bool { return f.kind == "file" && f.name != "small" })
	}
	umount()

	fs := openRO(t, img)
	st, lsns := scanAll(t, fs)
	if !st.Wrapped || st.Records == 0 || st.Transactions == 0 {
		t.Fatalf("a churned small log: %+v", st)
	}
	lp := logprintRecords(t, img)
	if got, want := lsns, slices.Sorted(maps.Keys(lp)); !slices.Equal(got, want) {
		t.Errorf("%d records read, xfs_logprint printed %d (first %s/%s, last %s/%s)", len(got), len(want),
			xlog.LSNText(got[0]), xlog.LSNText(want[0]), xlog.LSNText(got[len(got)-1]), xlog.LSNText(want[len(want)-1]))
	}
	inc, whole := expectedIncomplete(lp)
	t.Logf("xfs_logprint's ops: %d incomplete, %d whole transactions", inc, whole)
	if st.Incomplete != inc || st.Transactions != whole {
		t.Errorf("%d incomplete and %d whole transactions, xfs_logprint's ops make %d and %d", st.Incomplete, st.Transactions, inc, whole)
	}
	t.Log("files deleted after the log wrapped since they were written:")
	checkLives(t, fs, old)
	t.Log("files written and deleted since the log last wrapped:")
	checkLives(t, fs, w)
}

// checkLives holds LastLives to the ground truth: every deleted file it
// finds has its true size and generation and, where it says the extent
// list is known, the true list (no false claims); it returns how many
// deleted files were found whole.
func checkLives(t *testing.T, fs *fsys.FS, w *writer) int {
	t.Helper()
	byIno := map[uint64]*truthFile{}
	for _, f := range w.files {
		byIno[f.ino] = f
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	lives, _, err := LastLives(ctx, fs, func(ino uint64) bool { return byIno[ino] != nil })
	if err != nil {
		t.Fatal(err)
	}
	found, deleted, absent, cuts := 0, 0, 0, 0
	for _, f := range w.files {
		if !f.deleted || f.kind != "file" || f.emptied {
			continue
		}
		deleted++
		h := lives[f.ino]
		if h == nil {
			absent++
			continue
		}
		if h.Cut != nil && h.Cut.Core.Nlink == 0 {
			cuts++
		}
		if h.Live.Core.Size != uint64(f.size) || h.Generation != f.gen || (h.ExtentsKnown && !slices.Equal(h.Extents, f.extents)) {
			t.Errorf("%s (ino %d): size %d gen %d extents %s (known %v), want %d %d %s", f.name, f.ino, h.Live.Core.Size, h.Generation,
				extText(h.Extents), h.ExtentsKnown, f.size, f.gen, extText(f.extents))
		}
		if h.FreedLSN != 0 && (h.ExtentsKnown || h.BtreeRoot != nil) {
			found++
		}
	}
	t.Logf("%d of %d deleted regular files found freed with their size and extent list or bmbt root; %d with no life in the log; %d inactivations seen in mid-truncation",
		found, deleted, absent, cuts)
	return found
}

// transSummary is what a transaction holds, as xfs_logprint -t shows it:
// its id, its count of items, and its inode, buffer and intent items by
// label.
type transSummary struct {
	tid     uint32
	start   uint64
	items   int
	inodes  []uint64
	labels  map[string]int
	buffers int
}

// TestScanHistoryLogprint: a dirty log (files written and deleted, the
// filesystem shut down): the transactions the scan hands out from the
// tail on are those xfs_logprint -t prints, with the same items and
// inodes; the records are those of xfs_logprint's whole-log output.
func TestScanHistoryLogprint(t *testing.T) {
	for _, freeze := range []bool{false, true} {
		t.Run(map[bool]string{false: "tail-at-start", true: "tail-moved"}[freeze], func(t *testing.T) { logprintCompare(t, freeze) })
	}
}

// logprintCompare is TestScanHistoryLogprint on one image; with freeze,
// the files are written back before the deletions, so that the tail
// moves past the records of their writing.
func logprintCompare(t *testing.T, freeze bool) {
	dir := testimg.TmpfsDir(t)
	img := mkfsImage(t, dir, "dirty.img", 512<<20)
	g := geometry(t, img)
	mnt, umount := testimg.LoopMount(t, img, "loop")
	w := groundTruth(t, mnt, "", &g, 40)
	if freeze {
		// A freeze writes everything back: the tail moves up to the
		// head, so that the log holds records behind the tail.
		run(t, "xfs_io", "-x", "-c", "freeze", "-c", "thaw", mnt)
	}
	// The deletions in batches, each its own checkpoint.
	for batch := 0; batch < 4; batch++ {
		i := 0
		w.remove(func(f *truthFile) bool {
			i++
			return i%4 == batch && f.kind == "file" && f.name != "small" && !strings.HasPrefix(f.name, "dir3/")
		})
		run(t, "sync", "-f", mnt)
	}
	testimg.Shutdown(t, mnt, true)
	umount()

	fs := openRO(t, img)
	ls, err := fsys.ReadLogState(fs)
	if err != nil || ls.Clean {
		t.Fatalf("log state %+v %v", ls, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var all []*transSummary
	var cur *transSummary
	intentLabel := map[xlog.ItemType]string{xlog.ItemEFI: "EFI", xlog.ItemEFD: "EFD", xlog.ItemRUI: "RUI", xlog.ItemRUD: "RUD",
		xlog.ItemCUI: "CUI", xlog.ItemCUD: "CUD", xlog.ItemBUI: "BUI", xlog.ItemBUD: "BUD"}
	st, err := Scan(ctx, fs, Visitor{
		Trans: func(ts *TransSnapshot) error {
			cur = &transSummary{tid: ts.TID, start: ts.StartLSN, items: ts.Items, labels: map[string]int{}}
			all = append(all, cur)
			return nil
		},
		Inode:  func(s *InodeSnapshot) error { cur.inodes = append(cur.inodes, s.Ino); return nil },
		Buffer: func(*BufferSnapshot) error { cur.buffers++; return nil },
		Intent: func(s *IntentSnapshot) error { cur.labels[intentLabel[s.Type]]++; return nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("log %s; stats %+v", ls.Reason, st)
	var mine []*transSummary
	for _, ts := range all {
		if ts.start >= ls.TailLSN {
			mine = append(mine, ts)
		}
	}
	out, err := logprint.Run(2*time.Minute, img, "-t")
	if err != nil {
		t.Fatal(err)
	}
	lst, trans, err := logprint.ParseTrans(out)
	if err != nil {
		t.Fatal(err)
	}
	if lst.Tail != ls.TailBlock || lst.Head != ls.HeadBlock {
		t.Errorf("xfs_logprint: tail %d head %d; ReadLogState: %d %d", lst.Tail, lst.Head, ls.TailBlock, ls.HeadBlock)
	}
	var theirs []*transSummary
	for _, tr := range trans {
		ts := &transSummary{tid: tr.TID, items: len(tr.Items), labels: map[string]int{}}
		for _, it := range tr.Items {
			switch it.Label {
			case "INO":
				ts.inodes = append(ts.inodes, it.Fields["ino"])
			case "BUF":
				ts.buffers++
			case "ICR", "DQ", "QOFF", "ATTRI", "ATTRD":
			default:
				ts.labels[it.Label]++
			}
		}
		theirs = append(theirs, ts)
	}
	if len(mine) != len(theirs) || len(mine) == 0 {
		t.Fatalf("%d transactions from the tail on, xfs_logprint -t prints %d", len(mine), len(theirs))
	}
	inodes := 0
	for i, m := range mine {
		th := theirs[i]
		if m.tid != th.tid || m.items != th.items || !slices.Equal(m.inodes, th.inodes) || m.buffers != th.buffers || !maps.Equal(m.labels, th.labels) {
			t.Errorf("transaction %d: tid %#x, %d items, inodes %v, %d buffers, %v; xfs_logprint: %#x, %d, %v, %d, %v",
				i, m.tid, m.items, m.inodes, m.buffers, m.labels, th.tid, th.items, th.inodes, th.buffers, th.labels)
		}
		inodes += len(m.inodes)
	}
	t.Logf("%d transactions (of %d), %d inode items agree with xfs_logprint -t", len(mine), len(all), inodes)
	if freeze && len(mine) == len(all) {
		t.Errorf("no transaction behind the tail: the freeze did not move it")
	}
	lp := logprintRecords(t, img)
	_, lsns := scanAll(t, fs)
	if want := slices.Sorted(maps.Keys(lp)); !slices.Equal(lsns, want) {
		t.Errorf("%d records read, xfs_logprint printed %d", len(lsns), len(want))
	}
	if inc, whole := expectedIncomplete(lp); st.Incomplete != inc || st.Transactions != whole {
		t.Errorf("%d incomplete and %d whole transactions, xfs_logprint's ops make %d and %d", st.Incomplete, st.Transactions, inc, whole)
	}
	checkLives(t, fs, w)
}
