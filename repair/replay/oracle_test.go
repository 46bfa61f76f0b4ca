package replay_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xfsbox/xfsbox/internal/judge"
	"github.com/xfsbox/xfsbox/internal/logprint"
	"github.com/xfsbox/xfsbox/internal/testimg"
	"github.com/xfsbox/xfsbox/internal/xfsdb"
	"github.com/xfsbox/xfsbox/repair"
	"github.com/xfsbox/xfsbox/repair/check"
	"github.com/xfsbox/xfsbox/repair/fsys"
	"github.com/xfsbox/xfsbox/repair/replay"
)

// The replay oracle. A dirty image is made by the kernel: a loop mount,
// testdata/logwork.sh's workload stopped after some of its steps, a
// shutdown (with or without forcing the log first), an unmount
// (testimg.DirtyLogAt): a shutdown point. Of two copies, the kernel
// replays one (copy A: a loop mount and an unmount), xfsbox the other
// (copy B: a replay in a sandbox, committed). Then, judged by tools we
// did not write:
//
//   - every block outside the log is the same in A and B, except the
//     primary superblock, which xfs_db prints the same field for field
//     but for sbFieldsTheKernelStamps. (Byte equality is the strongest
//     form of "every AG header, btree block and inode prints the same":
//     equal bytes print equally; what differs is shown as xfs_db prints
//     it in both.)
//   - every file is the same as the kernel reads it in A and in B, mounted
//     read-only: content hashes, attributes, stat (judge.Snapshot);
//   - B is clean to xfs_repair -n and to our check, its log is clean to
//     xfs_logprint, and a read-only mount of B leaves it unchanged (the
//     kernel found nothing to replay).
//
// xfsbox replays as repair --replay-log does (repair.ReplayLog), with
// the kernel's after-work: where that rebuilt AGs (inodes freed from the
// unlinked lists, intents finished, copy-on-write staging freed), the
// rebuilt trees cannot be byte-equal to the kernel's, and the blocks are
// judged logically instead (judgeLogically, logical_test.go). A log
// that leaves work xfsbox cannot do (BUI, ATTRI, XMI intents) is
// refused by name; the oracle then checks that B was not touched, and
// counts the point as refused with its reason.

// sbFieldsTheKernelStamps are the superblock fields the kernel's own
// writes after recovery set: lsn, because its unmount logs the
// superblock (xfs_log_sbcount) in a transaction of its own, past the
// replayed log, and the write stamps that transaction's LSN; crc, which
// covers it. The summary counters (icount, ifree, fdblocks) are not
// among them: xfsbox recounts them from the AG headers as the kernel's
// mount after a dirty log does, and they must agree.
var sbFieldsTheKernelStamps = map[string]string{
	"lsn": "the kernel's unmount logs the superblock in its own transaction, past the replayed log, and stamps that LSN",
	"crc": "covers the lsn",
}

// shutdownPoint is one dirty image of the oracle.
type shutdownPoint struct {
	profile, mode, opts string
	force               bool
	stop                int
	wrapped             bool // testimg.WrappedLog instead
}

func (p shutdownPoint) String() string {
	if p.wrapped {
		return "wrapped-log"
	}
	s := fmt.Sprintf("%s/%s/stop%d", p.profile, p.mode, p.stop)
	if p.force {
		s += "/force"
	}
	if p.opts != "" {
		s += "/" + strings.TrimPrefix(p.opts, ",")
	}
	return s
}

// outcome is what the oracle made of one dirty image.
type outcome struct {
	dirty   string // the dirty image
	a, b    string // the kernel's replay, xfsbox's
	point   shutdownPoint
	refused string // why xfsbox refused to replay, or ""
	res     *replay.Result
	took    time.Duration
}

// runPoint makes the dirty image of p and judges xfsbox's replay of it
// against the kernel's. Failures are the test's; a refusal is returned.
func runPoint(t *testing.T, p shutdownPoint) outcome {
	t.Helper()
	var dirty string
	if p.wrapped {
		dirty = testimg.WrappedLog(t, testimg.TmpfsDir(t))
	} else {
		dirty = testimg.DirtyLogAt(t, p.profile, p.mode, p.opts, p.force, p.stop)
	}
	return judgeDirty(t, p, dirty)
}

// judgeDirty judges xfsbox's replay of the dirty image of p against the
// kernel's.
func judgeDirty(t *testing.T, p shutdownPoint, dirty string) outcome {
	t.Helper()
	if logState(t, dirty).Clean {
		t.Fatalf("%s: the kernel left a clean log: no shutdown point", p)
	}
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.img"), filepath.Join(dir, "b.img")
	copyFile(t, dirty, a)
	copyFile(t, dirty, b)
	start := time.Now()
	res, refused := xfsboxReplay(t, b)
	out := outcome{dirty: dirty, a: a, b: b, point: p, res: res, refused: refused, took: time.Since(start)}
	if refused != "" {
		if d := diffBlocks(t, dirty, b, 0, 0); len(d) > 0 {
			t.Errorf("%s: refused (%s), but %d blocks of the image changed", p, refused, len(d))
		}
		return out
	}
	kernelReplay(t, a, p.opts)
	from, to := logRange(t, a)
	if len(res.Rebuilt) > 0 {
		judgeLogically(t, p, a, b, from, to, res)
	} else {
		for _, off := range diffBlocks(t, a, b, from, to) {
			if off != 0 {
				t.Errorf("%s: block at byte %d differs after the kernel's replay and xfsbox's:\n%s", p, off, explain(a, b, off))
				continue
			}
			compareSB(t, p, a, b)
		}
	}
	sameFiles(t, p, a, b)
	if clean, out := judge.XfsRepairN(t, b); !clean {
		t.Errorf("%s: xfs_repair -n on xfsbox's replay:\n%s", p, out)
	}
	ourCheck(t, p, b)
	if st := logState(t, b); !st.Clean {
		t.Errorf("%s: xfs_logprint -t finds xfsbox's replay dirty: %+v", p, st)
	}
	return out
}

// logState is what xfs_logprint -t says of img's log.
func logState(t testing.TB, img string) logprint.State {
	t.Helper()
	out, err := logprint.Run(2*time.Minute, img, "-t")
	if err != nil {
		t.Fatal(err)
	}
	st, err := logprint.ParseState(out)
	if err != nil {
		t.Fatalf("xfs_logprint -t %s: %v", img, err)
	}
	return st
}

// copyFile copies src to a new file dst.
func copyFile(t testing.TB, src, dst string) {
	t.Helper()
	if out, err := exec.Command("cp", "--sparse=always", src, dst).CombinedOutput(); err != nil {
		t.Fatalf("cp %s %s: %v\n%s", src, dst, err, out)
	}
}

// xfsboxReplay replays img in a sandbox, with the after-work, and
// commits it, as xfsbox repair --replay-log does (repair.ReplayLog); a
// refusal comes back as its message.
func xfsboxReplay(t testing.TB, img string) (*replay.Result, string) {
	t.Helper()
	fs, err := fsys.Open(img, fsys.OpenOptions{Writable: true, Sandbox: true})
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	res, err := repair.ReplayLog(context.Background(), fs, repair.RepairOptions{})
	if errors.Is(err, replay.ErrRefused) {
		return res, err.Error()
	}
	if err != nil {
		t.Fatalf("replay %s: %v", img, err)
	}
	if res.AlreadyClean || !res.MarkedClean {
		t.Fatalf("replay %s: %+v", img, res)
	}
	if _, err := fs.CommitOverlay(nil); err != nil {
		t.Fatalf("commit %s: %v", img, err)
	}
	return res, ""
}

// kernelReplay mounts img with the options it was worked with (the
// kernel replays its log; dquots only when mounted with quotas) and
// unmounts it.
func kernelReplay(t testing.TB, img, opts string) {
	t.Helper()
	_, umount := testimg.LoopMount(t, img, "loop"+opts)
	umount()
}

// logRange is the byte range of img's internal log.
func logRange(t testing.TB, img string) (start, end int64) {
	t.Helper()
	fs, err := fsys.Open(img, fsys.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	agno, agbno, _ := fs.Geo.InternalLogAG()
	start = fs.Geo.ByteOffset(agno, agbno)
	return start, start + int64(fs.Geo.LogBlocks)*int64(fs.Geo.BlockSize)
}

// openPair opens images a and b for reading until the test ends.
func openPair(t testing.TB, a, b string) (fa, fb *os.File) {
	t.Helper()
	for _, x := range []struct {
		f    **os.File
		path string
	}{{&fa, a}, {&fb, b}} {
		f, err := os.Open(x.path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		*x.f = f
	}
	return fa, fb
}

// diffBlocks compares two images of one size 4 KiB at a time outside
// [skipFrom, skipTo) and returns the byte offsets of those that differ.
func diffBlocks(t testing.TB, a, b string, skipFrom, skipTo int64) []int64 {
	t.Helper()
	fa, fb := openPair(t, a, b)
	const chunk = 1 << 20
	ba, bb := make([]byte, chunk), make([]byte, chunk)
	var out []int64
	for off := int64(0); ; off += chunk {
		na, ea := io.ReadFull(fa, ba)
		nb, _ := io.ReadFull(fb, bb)
		if na != nb {
			t.Fatalf("%s and %s differ in size (at byte %d)", a, b, off+int64(min(na, nb)))
		}
		for i := 0; i < na; i += 4096 {
			p := off + int64(i)
			if p >= skipFrom && p < skipTo {
				continue
			}
			if j := min(i+4096, na); !bytes.Equal(ba[i:j], bb[i:j]) {
				out = append(out, p)
			}
		}
		if ea != nil {
			return out
		}
	}
}

// xfsdbTypes are the xfs_db types of blocks by their magic number.
var xfsdbTypes = map[string]string{
	"XFSB": "sb", "XAGF": "agf", "XAGI": "agi", "XAFL": "agfl", "AB3B": "bnobt", "AB3C": "cntbt", "IAB3": "inobt",
	"FIB3": "finobt", "RMB3": "rmapbt", "R3FC": "refcntbt", "BMA3": "bmapbtd", "XDB3": "dir3", "XDD3": "dir3",
	"XDF3": "dir3", "XSLM": "symlink", "XARM": "attr3",
}

// explain shows how the 4 KiB at byte off differ between a and b as
// xfs_db prints them: the fields that differ, of each inode for an
// inode block, of the block by its magic otherwise (raw text when the
// magic names no type).
func explain(a, b string, off int64) string {
	buf := make([]byte, 4096)
	f, err := os.Open(a)
	if err == nil {
		_, err = f.ReadAt(buf, off)
		f.Close()
	}
	if err != nil {
		return err.Error()
	}
	isize := 512
	if fs, err := fsys.Open(a, fsys.OpenOptions{}); err == nil {
		isize = int(fs.Geo.InodeSize)
		fs.Close()
	}
	var objs [][]string
	switch magic := string(buf[:4]); {
	case magic[:2] == "IN":
		for i := 0; i < len(buf); i += isize {
			objs = append(objs, []string{fmt.Sprintf("daddr %d", (off+int64(i))/512), "type inode"})
		}
	case xfsdbTypes[magic] != "":
		objs = append(objs, []string{fmt.Sprintf("daddr %d", off/512), "type " + xfsdbTypes[magic]})
	case buf[8] == 0x3d || buf[8] == 0x3e || buf[8] == 0x3b: // da3 blocks: directory leaves and nodes, attribute leaves
		typ := map[bool]string{true: "attr3", false: "dir3"}[buf[8] == 0x3b]
		objs = append(objs, []string{fmt.Sprintf("daddr %d", off/512), "type " + typ})
	}
	var sb strings.Builder
	for _, cmds := range objs {
		oa, ea := xfsdb.Print(a, cmds...)
		ob, eb := xfsdb.Print(b, cmds...)
		if ea != nil || eb != nil {
			fmt.Fprintf(&sb, "%q: %v / %v\n", cmds, ea, eb)
			continue
		}
		for _, d := range fieldDiff(oa, ob) {
			fmt.Fprintf(&sb, "%s: %s\n", cmds[0], d)
		}
	}
	if len(objs) == 0 {
		for _, img := range []string{a, b} {
			out, err := xfsdb.Run(img, fmt.Sprintf("daddr %d", off/512), "type text", "p")
			fmt.Fprintf(&sb, "== %s (%v)\n%s\n", filepath.Base(img), err, firstLines(out, 24))
		}
	}
	return sb.String()
}

// fieldDiff lists the fields and array rows xfs_db printed differently
// (a's value, then b's).
func fieldDiff(a, b *xfsdb.Object) []string {
	var out []string
	for _, f := range a.Fields {
		if v := b.Value(f.Name); v != f.Value {
			out = append(out, fmt.Sprintf("%s = %s | %s", f.Name, f.Value, v))
		}
	}
	for _, arr := range a.Arrays {
		other := b.Array(arr.Name)
		for i, row := range arr.Rows {
			var orow []string
			if other != nil && i < len(other.Rows) {
				orow = other.Rows[i]
			}
			if strings.Join(row, ",") != strings.Join(orow, ",") {
				out = append(out, fmt.Sprintf("%s[%d] = %v | %v", arr.Name, arr.Index[i], row, orow))
			}
		}
	}
	return out
}

func firstLines(s string, n int) string {
	ls := strings.SplitAfter(s, "\n")
	return strings.Join(ls[:min(n, len(ls))], "")
}

// compareSB holds the primary superblocks of a (the kernel's) and b
// (xfsbox's) to each other as xfs_db prints them, field for field but
// for the ones the kernel stamps.
func compareSB(t *testing.T, p shutdownPoint, a, b string) {
	t.Helper()
	oa, err := xfsdb.Print(a, "sb 0")
	if err != nil {
		t.Fatal(err)
	}
	ob, err := xfsdb.Print(b, "sb 0")
	if err != nil {
		t.Fatal(err)
	}
	if len(oa.Fields) != len(ob.Fields) {
		t.Errorf("%s: sb 0 prints %d fields after the kernel's replay, %d after xfsbox's", p, len(oa.Fields), len(ob.Fields))
	}
	for _, f := range oa.Fields {
		if _, stamped := sbFieldsTheKernelStamps[f.Name]; stamped {
			continue
		}
		if v := ob.Value(f.Name); v != f.Value {
			t.Errorf("%s: sb 0 %s = %s after the kernel's replay, %s after xfsbox's", p, f.Name, f.Value, v)
		}
	}
}

// sameFiles mounts both images read-only and holds every file as the
// kernel reads it in b to what it reads in a. The mount of b must leave
// b as it was: the kernel found its log clean.
func sameFiles(t *testing.T, p shutdownPoint, a, b string) {
	t.Helper()
	before := testimg.FileSum(t, b)
	snap := func(img string) *judge.Tree {
		mnt, umount := testimg.LoopMount(t, img, "loop,ro")
		defer umount()
		tree, err := judge.Snapshot(mnt)
		if err != nil {
			t.Fatal(err)
		}
		return tree
	}
	if diff := judge.Diff(snap(a), snap(b), judge.DiffOptions{}); len(diff) > 0 {
		t.Errorf("%s: files after the kernel's replay (a) and xfsbox's (b):\n%s", p, strings.Join(diff, "\n"))
	}
	if testimg.FileSum(t, b) != before {
		t.Errorf("%s: a read-only mount of xfsbox's replay changed it: the kernel found its log dirty", p)
	}
}

// ourCheck runs xfsbox's check on img: no corruption, no disagreement.
func ourCheck(t *testing.T, p shutdownPoint, img string) {
	t.Helper()
	fs, err := fsys.Open(img, fsys.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	res, err := check.Check(context.Background(), fs, check.CheckOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range res.Findings.List() {
		if f.Severity == check.Corrupt || f.Severity == check.XrefMismatch || f.Code == "log.dirty" {
			t.Errorf("%s: xfsbox check after the replay: %s", p, f)
		}
	}
}

// report logs the outcomes as a table and fails if every point was
// refused (the oracle would have judged nothing). Its columns count the
// log's items: transactions, buffers and inodes replayed, items skipped
// as newer on disk, cancelled items, inode chunks created, intents done
// of those logged.
func report(t *testing.T, outs []outcome) string {
	t.Helper()
	var sb strings.Builder
	replayed, refused := 0, 0
	reasons := map[string]int{}
	fmt.Fprintf(&sb, "%-44s %-9s %5s %5s %6s %6s %5s %5s %7s %7s  %s\n", "shutdown point", "result", "trans", "bufs", "inodes", "newer", "cancl", "icrt", "intents", "seconds", "why refused, or the after-work")
	for _, o := range outs {
		res := o.res
		if res == nil {
			res = &replay.Result{}
		}
		verdict := "replayed"
		why := ""
		if o.refused != "" {
			verdict, why = "refused", o.refused
			refused++
			reasons[reasonKind(o.refused)]++
		} else {
			replayed++
			if len(res.Rebuilt) > 0 {
				var ags []string
				for _, r := range res.Rebuilt {
					ags = append(ags, strconv.Itoa(int(r.AG)))
				}
				why = fmt.Sprintf("after-work: %d inode(s) freed, %d intent(s) finished, %d CoW staging extent(s) freed; AGs %s rebuilt: judged logically",
					len(res.Freed), len(res.Unfinished), res.CowStaging, strings.Join(ags, ","))
			}
		}
		c := res.Counts
		fmt.Fprintf(&sb, "%-44s %-9s %5d %5d %6d %6d %5d %5d %3d/%-3d %7.2f  %s\n", o.point, verdict, c.Transactions, c.Buffers+c.InodeBuffers,
			c.Inodes, c.BuffersSkipped+c.InodesSkipped, c.BuffersCancelled+c.InodesCancelled+c.ICreatesCancelled, c.ICreates,
			c.IntentsDone, c.Intents, o.took.Seconds(), why)
	}
	fmt.Fprintf(&sb, "\n%d shutdown points: %d replayed and equal to the kernel's replay (unless failures above), %d refused by name\n", len(outs), replayed, refused)
	for k, n := range reasons {
		fmt.Fprintf(&sb, "  refused %d: %s\n", n, k)
	}
	t.Log("\n" + sb.String())
	if replayed == 0 && len(outs) > 0 {
		t.Errorf("every shutdown point was refused: the oracle judged nothing")
	}
	return sb.String()
}

// reasonKind is a refusal without its numbers, to count alike ones.
func reasonKind(s string) string {
	switch {
	case strings.Contains(s, "unfinished intent"):
		return "unfinished intents"
	case strings.Contains(s, "unlinked"):
		return "inodes left on the unlinked lists"
	case strings.Contains(s, "copy-on-write staging"):
		return "copy-on-write staging extents"
	}
	return s
}

// TestReplayOracle runs the oracle on a sample of shutdown points of the
// all-features and mkfs-defaults profiles (one after the metadata was
// written back, so that items are skipped as newer on disk) and of a
// log of 4 KiB sectors (make test; make campaign runs
// TestReplayOracleSweep's many more) and on a log wrapped round its end.
func TestReplayOracle(t *testing.T) {
	testimg.Require(t, "root", "xfsprogs", "loop")
	points := []shutdownPoint{
		{profile: "allfeatures", mode: "full", force: true, stop: 9},
		{profile: "allfeatures", mode: "settled"}, // blocks newer on disk than the log
		{profile: "defaults", mode: "full", force: true, stop: 14},
		{profile: "4ksector", mode: "full", stop: 7}, // records padded to the 4 KiB log sector
		{wrapped: true},
	}
	var outs []outcome
	for _, p := range points {
		t.Run(strings.ReplaceAll(p.String(), "/", "-"), func(t *testing.T) { outs = append(outs, runPoint(t, p)) })
	}
	report(t, outs)
}

// sweepProfiles are the profiles of the sweep: the mkfs defaults, every
// feature, and the wild matrix's shapes (block and sector sizes, inode
// sizes, no sparse inodes, stripes, large extent counters, log sizes, AG
// counts, directory blocks).
var sweepProfiles = []string{"allfeatures", "defaults", "1k", "4ksector", "rhel7", "rhel8", "nosparse", "isize1k", "isize2k",
	"64k", "stripe", "nrext64", "logsmall", "manyag", "oneag", "dir64k"}

// sweepPoints are the shutdown points of one profile: the full workload
// stopped after several of its steps, with and without a log force
// before the shutdown; on the all-features profile also with 256 KiB
// log buffers (records with extended headers), the intents workload
// (deferred work under log forces: logs that may hold unfinished
// intents, finished by the rebuild, or refused by name when xfsbox cannot). Not with quotas: kernels built
// without CONFIG_XFS_QUOTA (this machine's) cannot make such a log.
func sweepPoints(profile string) []shutdownPoint {
	var out []shutdownPoint
	for _, stop := range []int{3, 7, 10, 12, 16, 17, 0} {
		for _, force := range []bool{true, false} {
			out = append(out, shutdownPoint{profile: profile, mode: "full", force: force, stop: stop})
		}
	}
	if profile == "allfeatures" || profile == "defaults" {
		// A file removed while open: freed after the replay, judged
		// logically (TestReplayUnlinked).
		for _, force := range []bool{true, false} {
			out = append(out, shutdownPoint{profile: profile, mode: "unlinked", force: force})
		}
		// Metadata written back while the log still holds older
		// changes to it: items skipped as newer on disk.
		out = append(out, shutdownPoint{profile: profile, mode: "settled"})
	}
	if profile == "allfeatures" {
		for _, stop := range []int{5, 11, 0} {
			out = append(out, shutdownPoint{profile: profile, mode: "full", opts: ",logbsize=256k", force: stop != 5, stop: stop})
		}
		for _, force := range []bool{true, false} {
			out = append(out, shutdownPoint{profile: profile, mode: "intents", force: force})
		}

	}
	return out
}

// TestReplayOracleSweep is the wide sweep (make campaign): every point
// of sweepPoints on the profiles of $XFSBOX_REPLAY_SWEEP ("all": every
// sweepProfiles; or a comma-separated list), and three wrapped logs. The
// table goes to the log and to $XFSBOX_REPLAY_OUT when set.
func TestReplayOracleSweep(t *testing.T) {
	sel := os.Getenv("XFSBOX_REPLAY_SWEEP")
	if sel == "" {
		t.Skip("the wide replay sweep runs with XFSBOX_REPLAY_SWEEP=all (make campaign)")
	}
	testimg.Require(t, "root", "xfsprogs", "loop")
	profiles := sweepProfiles
	if sel != "all" {
		profiles = strings.Split(sel, ",")
	}
	var points []shutdownPoint
	for _, p := range profiles {
		points = append(points, sweepPoints(p)...)
	}
	if sel == "all" {
		points = append(points, shutdownPoint{wrapped: true}, shutdownPoint{wrapped: true}, shutdownPoint{wrapped: true})
	}
	var outs []outcome
	for _, p := range points {
		t.Run(strings.ReplaceAll(p.String(), "/", "-"), func(t *testing.T) { outs = append(outs, runPoint(t, p)) })
	}
	table := report(t, outs)
	if out := os.Getenv("XFSBOX_REPLAY_OUT"); out != "" {
		if err := os.WriteFile(out, []byte(sweepHeader()+table), 0o644); err != nil {
			t.Error(err)
		}
	}
}

// TestReplayUnlinked: a file removed while open at the crash leaves its
// inode on an AGI unlinked list, which the kernel frees after replaying.
// xfsbox frees it too (repair.ReplayLog: the inode's core cleared, its
// AG rebuilt), judged against the kernel's replay as every point whose
// after-work rebuilt AGs is (judgeLogically); on both profiles, with and
// without a log force. A partial replay (a read-only view's) keeps the
// inode listed as unlinked and says so.
func TestReplayUnlinked(t *testing.T) {
	testimg.Require(t, "root", "xfsprogs", "loop")
	points := []shutdownPoint{
		{profile: "allfeatures", mode: "unlinked", force: true},
		{profile: "defaults", mode: "unlinked"},
	}
	var outs []outcome
	for _, p := range points {
		t.Run(strings.ReplaceAll(p.String(), "/", "-"), func(t *testing.T) {
			o := runPoint(t, p)
			outs = append(outs, o)
			if o.refused != "" || len(o.res.Freed) == 0 || len(o.res.Rebuilt) == 0 {
				t.Fatalf("replay of a log leaving an unlinked inode: refused %q, result %+v", o.refused, o.res)
			}
			for _, img := range []string{o.a, o.b} {
				for _, ino := range o.res.Freed {
					obj, err := xfsdb.Print(img, fmt.Sprintf("inode %d", ino))
					if err != nil {
						t.Fatal(err)
					}
					if mode := obj.Value("core.mode"); mode != "0" {
						t.Errorf("%s: inode %d has mode %s: not freed", filepath.Base(img), ino, mode)
					}
				}
			}
			t.Logf("%s: %s", p, strings.Join(o.res.AfterWork, "; "))
			fs, err := fsys.Open(o.dirty, fsys.OpenOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer fs.Close()
			tfs, release, err := fs.Throwaway()
			if err != nil {
				t.Fatal(err)
			}
			defer release()
			res, err := replay.Replay(context.Background(), tfs, replay.Options{Partial: true, LeaveLogDirty: true})
			if err != nil || !slices.Equal(res.Unlinked, o.res.Freed) || len(res.Freed) > 0 || res.MarkedClean || len(res.Incomplete) == 0 ||
				!strings.Contains(res.Incomplete[0], "unlinked lists") {
				t.Errorf("a partial replay: %+v %v", res, err)
			}
		})
	}
	report(t, outs)
}

// sweepHeader says what a sweep's table was made with: the kernel that
// made and replayed the dirty images, xfsprogs, and xfsbox's commit.
func sweepHeader() string {
	run := func(name string, args ...string) string {
		out, err := exec.Command(name, args...).CombinedOutput()
		if err != nil {
			return "?"
		}
		return strings.TrimSpace(string(out))
	}
	return fmt.Sprintf("# make replay-sweep, %s\n# kernel %s, %s, xfsbox %s\n# judges: the kernel's replay (loop mount, unmount), xfs_db, xfs_repair -n, xfs_logprint -t, files read through read-only mounts\n\n",
		time.Now().UTC().Format("2006-01-02"), run("uname", "-r"), run("xfs_repair", "-V"), run("git", "rev-parse", "--short", "HEAD"))
}
