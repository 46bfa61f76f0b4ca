package fsys

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xfsbox/xfsbox/internal/testimg"
	"github.com/xfsbox/xfsbox/xfsformat"
	xlog "github.com/xfsbox/xfsbox/xfsformat/log"
)

// logprint is what `xfs_logprint -t` says of the log: "log tail: T head:
// H state: <CLEAN>" (6.1), in log-relative basic blocks.
type logprint struct {
	tail, head uint32
	state      string
}

var logprintRE = regexp.MustCompile(`log tail: (\d+) head: (\d+) state: <(\w+)>`)

func xfsLogprint(t *testing.T, img string) logprint {
	t.Helper()
	out, err := testimg.RunTimed(t, time.Minute, "xfs_logprint", "-t", img)
	m := logprintRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("xfs_logprint -t %s: %v; no \"log tail: T head: H state: <S>\" in:\n%s", img, err, out)
	}
	tail, _ := strconv.ParseUint(m[1], 10, 32)
	head, _ := strconv.ParseUint(m[2], 10, 32)
	return logprint{uint32(tail), uint32(head), m[3]}
}

func readLogState(t *testing.T, img string) *LogState {
	t.Helper()
	fs, err := Open(img, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	ls, err := ReadLogState(fs)
	if err != nil {
		t.Fatal(err)
	}
	return ls
}

func compareLogprint(t *testing.T, img string, ls *LogState) {
	t.Helper()
	lp := xfsLogprint(t, img)
	if ls.HeadBlock != lp.head || ls.TailBlock != lp.tail || ls.Clean != (lp.state == "CLEAN") {
		t.Fatalf("ReadLogState: head %d tail %d clean %v (%s); xfs_logprint: head %d tail %d state %s",
			ls.HeadBlock, ls.TailBlock, ls.Clean, ls.Reason, lp.head, lp.tail, lp.state)
	}
}

func TestLogStateCleanImages(t *testing.T) {
	for _, p := range []string{"allfeatures", "defaults", "1k", "4ksector"} {
		t.Run(p, func(t *testing.T) {
			img := testimg.Image(t, p)
			ls := readLogState(t, img)
			t.Logf("%+v", *ls)
			if !ls.Clean {
				t.Fatalf("log of a cleanly unmounted image is dirty: %s", ls.Reason)
			}
			compareLogprint(t, img, ls)
			checkLogRecords(t, img)
		})
	}
}

// checkLogRecords walks every record from block 0 to the head of a log
// that has not wrapped and checks what the kernel wrote against our
// decoding: each header verifies, each CRC checks (extended headers
// included), the blocks carry the record's cycle, and once unpacked the
// data holds exactly h_num_logops operation headers from known clients.
// It returns how many records had extended headers.
func checkLogRecords(t *testing.T, img string) (extended int) {
	t.Helper()
	fs, err := Open(img, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	ls, err := ReadLogState(fs)
	if err != nil {
		t.Fatal(err)
	}
	if ls.Cycle != 1 {
		t.Logf("the log has wrapped (cycle %d): records not walked", ls.Cycle)
		return 0
	}
	l, err := newLogReader(fs)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for bb := uint32(0); bb < ls.HeadBlock; n++ {
		rec, why, err := l.readRecord(bb)
		if err != nil || why != "" {
			t.Fatalf("block %d: %v %s", bb, err, why)
		}
		h := rec.Header
		if xlog.LSNBlock(h.LSN) != bb || h.FSUUID != fs.SB.UUID {
			t.Fatalf("block %d: lsn %#x, uuid %s", bb, h.LSN, h.FSUUID)
		}
		if rec.HeaderBlocks > 1 {
			extended++
		}
		if rec.CRCZero {
			t.Logf("record at block %d has no CRC (mkfs writes none)", bb)
		}
		if len(rec.Problems) > 0 || (!rec.CRCOK && !rec.CRCZero) {
			t.Fatalf("record at block %d (%d header blocks, len %d): %v", bb, rec.HeaderBlocks, h.Len, rec.Problems)
		}
		if len(rec.Ops) != int(h.NumLogOps) {
			t.Fatalf("record at block %d: %d ops of %d", bb, len(rec.Ops), h.NumLogOps)
		}
		for i, op := range rec.Ops {
			if op.ClientID != xlog.ClientTransaction && op.ClientID != xlog.ClientLog {
				t.Fatalf("record at block %d, op %d at byte %d: %+v (data not unpacked right?)", bb, i, op.Offset, op.OpHeader)
			}
		}
		bb += uint32(h.Blocks(true))
	}
	t.Logf("%d records checked, %d with extended headers", n, extended)
	return extended
}

// TestLogStateDirty makes a dirty log the way a crash would: mount, write,
// shut the filesystem down (the log is forced, nothing is checkpointed),
// unmount. logbsize=256k makes records with extended headers.
func TestLogStateDirty(t *testing.T) {
	testimg.Require(t, "root", "xfsprogs", "loop")
	img := testimg.Copy(t, "allfeatures")
	mnt, umount := testimg.LoopMount(t, img, "loop,logbsize=256k")
	for i := 0; i < 200; i++ {
		if err := os.WriteFile(filepath.Join(mnt, fmt.Sprintf("f%03d", i)), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := testimg.RunTimed(t, time.Minute, "xfs_io", "-x", "-c", "shutdown -f", mnt); err != nil {
		t.Fatalf("xfs_io shutdown: %v\n%s", err, out)
	}
	umount()

	ls := readLogState(t, img)
	t.Logf("%+v", *ls)
	if ls.Clean {
		t.Fatalf("a log left by a shutdown is reported clean: %s", ls.Reason)
	}
	compareLogprint(t, img, ls)
	out, _ := testimg.RunTimed(t, 5*time.Minute, "xfs_repair", "-n", img)
	if !strings.Contains(out, "valuable metadata changes in a log") {
		t.Fatalf("xfs_repair -n does not call the log dirty:\n%s", out)
	}
	if checkLogRecords(t, img) == 0 {
		t.Error("no record with extended headers: logbsize=256k did not take?")
	}

	// Mounting replays the log, unmounting leaves it clean again.
	_, umount = testimg.LoopMount(t, img, "loop")
	umount()
	ls = readLogState(t, img)
	if !ls.Clean {
		t.Fatalf("after replay and a clean unmount: %s", ls.Reason)
	}
	compareLogprint(t, img, ls)
}

// TestLogStateWrapped runs a small log around its end (cycle 2 and more),
// clean and then dirty. The image lives in /dev/shm when there is one:
// each O_DSYNC write forces the log, and flushes to tmpfs are cheap.
func TestLogStateWrapped(t *testing.T) {
	testimg.Require(t, "root", "xfsprogs", "loop")
	img := filepath.Join(testimg.TmpfsDir(t), "wrap.img")
	testimg.SparseFile(t, img, 512<<20)
	// mkfs.xfs 6.1 refuses logs under 64 MiB unless it believes it runs
	// under fstests; the smallest log wraps quickly.
	mkfs, err := testimg.LookTool("mkfs.xfs")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(mkfs, "-q", "-l", "size=1368b", img)
	cmd.Env = append(os.Environ(), "TEST_DIR=/tmp", "TEST_DEV=/dev/null", "QA_CHECK_FS=xfs")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("mkfs.xfs: %v\n%s", err, out)
	}
	dsync := func(mnt, name string, n int) {
		t.Helper()
		if out, err := testimg.RunTimed(t, 2*time.Minute, "dd", "if=/dev/zero", "of="+filepath.Join(mnt, name), "bs=512",
			fmt.Sprint("count=", n), "oflag=dsync", "status=none"); err != nil {
			t.Fatalf("dd: %v\n%s", err, out)
		}
	}

	mnt, umount := testimg.LoopMount(t, img, "loop")
	dsync(mnt, "a", 8000)
	umount()
	ls := readLogState(t, img)
	t.Logf("clean: %+v", *ls)
	if ls.Cycle < 2 {
		t.Fatalf("the log did not wrap (cycle %d)", ls.Cycle)
	}
	if !ls.Clean {
		t.Fatalf("clean unmount reported dirty: %s", ls.Reason)
	}
	compareLogprint(t, img, ls)

	mnt, umount = testimg.LoopMount(t, img, "loop")
	dsync(mnt, "b", 3000)
	if out, err := testimg.RunTimed(t, time.Minute, "xfs_io", "-x", "-c", "shutdown -f", mnt); err != nil {
		t.Fatalf("xfs_io shutdown: %v\n%s", err, out)
	}
	umount()
	ls = readLogState(t, img)
	t.Logf("dirty: %+v", *ls)
	if ls.Clean {
		t.Fatalf("shutdown reported clean: %s", ls.Reason)
	}
	compareLogprint(t, img, ls)

	// The records from the tail to the head, across the end if the tail
	// is past the head: each where the one before it ends.
	fs, err := Open(img, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	next, n, low := ls.TailBlock, 0, 0
	err = LogRecords(context.Background(), fs, ls, ls.TailBlock, func(r *xlog.Record) error {
		if r.Block != next || len(r.Problems) > 0 {
			return fmt.Errorf("record at block %d (expected %d): %v", r.Block, next, r.Problems)
		}
		if r.Block < ls.TailBlock {
			low++
		}
		n++
		next = (r.Block + uint32(r.Header.Blocks(ls.LogV2))) % ls.LogBlocks
		return nil
	})
	if err != nil || next != ls.HeadBlock || n == 0 || (ls.TailBlock > ls.HeadBlock) != (low > 0) {
		t.Fatalf("LogRecords: %v; %d records (%d past the end), ended at %d, head %d", err, n, low, next, ls.HeadBlock)
	}
}

// TestLogStateDamaged: damage near the head makes the log "not clean",
// with a reason, never an error or a panic.
func TestLogStateDamaged(t *testing.T) {
	src := testimg.Image(t, "defaults")
	clean := readLogState(t, src)
	for _, tc := range []struct {
		name string
		bb   func(ls *LogState) uint32 // log block to damage
		off  int
		want string
	}{
		{"unmount record data", func(ls *LogState) uint32 { return ls.RecordBlock + 1 }, 20, "bad CRC"},
		{"unmount record header", func(ls *LogState) uint32 { return ls.RecordBlock }, 0, ""},
		{"record length", func(ls *LogState) uint32 { return ls.RecordBlock }, 12, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img := filepath.Join(t.TempDir(), "img")
			if out, err := testimg.RunTimed(t, time.Minute, "cp", "--sparse=always", src, img); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			os.Chmod(img, 0o644)
			fs, err := Open(img, OpenOptions{Writable: true})
			if err != nil {
				t.Fatal(err)
			}
			agno, agbno, _ := fs.Geo.InternalLogAG()
			off := fs.Geo.ByteOffset(agno, agbno) + int64(tc.bb(clean))*xlog.BBSize + int64(tc.off)
			b := []byte{0}
			fs.Img.ReadAt(b, off)
			b[0] ^= 0x5a
			if err := fs.Img.WriteAt(b, off); err != nil {
				t.Fatal(err)
			}
			fs.Close()
			ls := readLogState(t, img)
			t.Logf("%+v", *ls)
			if ls.Clean || !strings.Contains(ls.Reason, tc.want) {
				t.Fatalf("damaged log: clean %v, reason %q (want it to mention %q)", ls.Clean, ls.Reason, tc.want)
			}
		})
	}
}

func TestLogStateExternalLog(t *testing.T) {
	img := testimg.Image(t, "defaults")
	fs, err := Open(img, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	g := *fs.Geo
	g.LogStart = 0
	fs.Geo = &g
	if _, err := ReadLogState(fs); !errors.Is(err, ErrExternalLog) {
		t.Fatalf("external log: %v", err)
	}
}

// TestLogStateAppendedRecord writes one more record after the unmount
// record of a clean log: a well-formed unmount record keeps the log clean
// (with the head moved past it), a transaction makes it dirty, and a torn
// one (bad CRC) is discarded but keeps us from calling the log clean.
func TestLogStateAppendedRecord(t *testing.T) {
	src := testimg.Image(t, "defaults")
	clean := readLogState(t, src)
	for _, tc := range []struct {
		name       string
		flags      uint8
		corruptCRC bool
		wantClean  bool
		wantHead   uint32
		want       string
	}{
		{"second unmount record", xlog.OpUnmount, false, true, clean.HeadBlock + 2, "is an unmount record"},
		{"transaction", xlog.OpCommit, false, false, clean.HeadBlock + 2, "not an unmount record"},
		{"torn", xlog.OpUnmount, true, false, clean.HeadBlock, "torn"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img := filepath.Join(t.TempDir(), "img")
			if out, err := testimg.RunTimed(t, time.Minute, "cp", "--sparse=always", src, img); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			os.Chmod(img, 0o644)
			fs, err := Open(img, OpenOptions{Writable: true})
			if err != nil {
				t.Fatal(err)
			}
			rec := appendLogRecord(clean, fs.SB.UUID, tc.flags)
			if tc.corruptCRC {
				rec[32] ^= 1
			}
			agno, agbno, _ := fs.Geo.InternalLogAG()
			if err := fs.Img.WriteAt(rec, fs.Geo.ByteOffset(agno, agbno)+int64(clean.HeadBlock)*xlog.BBSize); err != nil {
				t.Fatal(err)
			}
			fs.Close()
			ls := readLogState(t, img)
			t.Logf("%+v", *ls)
			if ls.Clean != tc.wantClean || ls.HeadBlock != tc.wantHead || !strings.Contains(ls.Reason, tc.want) {
				t.Fatalf("got clean %v head %d (%s); want clean %v head %d, reason with %q",
					ls.Clean, ls.HeadBlock, ls.Reason, tc.wantClean, tc.wantHead, tc.want)
			}
			if !tc.corruptCRC {
				compareLogprint(t, img, ls)
			}
		})
	}
}

// appendLogRecord builds a one-op record of one data block that follows
// the log's last record, packed and checksummed as the kernel writes it.
func appendLogRecord(ls *LogState, uuid xfsformat.UUID, flags uint8) []byte {
	b := make([]byte, 2*xlog.BBSize)
	be := binary.BigEndian
	be.PutUint32(b, xlog.HeaderMagic)
	be.PutUint32(b[4:], ls.Cycle)
	be.PutUint32(b[8:], xlog.Version2)
	be.PutUint32(b[12:], xlog.BBSize)
	be.PutUint64(b[16:], uint64(ls.Cycle)<<32|uint64(ls.HeadBlock))
	be.PutUint64(b[24:], uint64(ls.Cycle)<<32|uint64(ls.HeadBlock))
	be.PutUint32(b[36:], ls.RecordBlock)
	be.PutUint32(b[40:], 1)
	be.PutUint32(b[300:], 1)
	copy(b[304:320], uuid[:])
	be.PutUint32(b[320:], xlog.HeaderCycleSize)
	data := b[xlog.BBSize:]
	client := uint8(xlog.ClientTransaction)
	if flags&xlog.OpUnmount != 0 {
		client = xlog.ClientLog
	}
	be.PutUint32(data, 0x12345678) // oh_tid
	be.PutUint32(data[4:], 8)      // oh_len
	data[8], data[9] = client, flags
	be.PutUint16(data[12:], 0x556e) // XLOG_UNMOUNT_TYPE
	// Pack: the data block's first word goes to h_cycle_data[0], the
	// cycle takes its place.
	copy(b[44:48], data[:4])
	be.PutUint32(data, ls.Cycle)
	binary.LittleEndian.PutUint32(b[32:], xlog.RecordCRC(b[:xlog.BBSize], data))
	return b
}
