// Package logprint runs xfs_logprint (xfsprogs) and parses what it
// prints, so that tests can hold xfsbox's log decoding to the reference
// tool item for item: the head, tail and state line, the transactions of
// `xfs_logprint -t` with their items and the fields it prints of each,
// and the records of the plain output with their operation headers.
//
// It is a test helper and imports nothing but the standard library. The
// forms parsed are those of xfsprogs 6.1 (logprint/log_misc.c,
// log_print_all.c, log_redo.c); samples are under testdata/.
package logprint

import (
	"bufio"
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Run runs xfs_logprint with args on img, bounded by timeout, and returns
// its standard output (it writes warnings to standard error).
func Run(timeout time.Duration, img string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	name := "xfs_logprint"
	for _, dir := range []string{"", "/usr/sbin/", "/sbin/"} {
		if p, err := exec.LookPath(dir + "xfs_logprint"); err == nil {
			name = p
			break
		}
	}
	var stderr strings.Builder
	cmd := exec.CommandContext(ctx, name, append(args, img)...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("xfs_logprint %s %s: %v\n%s", strings.Join(args, " "), img, err, stderr.String())
	}
	return string(out), nil
}

// Log is what xfs_logprint says of an image's log: the text of
// xfs_logprint -t and of its plain output (the whole physical log), and
// both parsed.
type Log struct {
	TransText, PlainText string
	State                State
	Trans                []*Trans
	Records              []*Record
}

// Read runs xfs_logprint -t and xfs_logprint on img, each bounded by a
// few minutes, and parses them.
func Read(img string) (*Log, error) {
	l := &Log{}
	var err error
	if l.TransText, err = Run(2*time.Minute, img, "-t"); err != nil {
		return nil, err
	}
	if l.PlainText, err = Run(5*time.Minute, img); err != nil {
		return nil, err
	}
	if l.State, l.Trans, err = ParseTrans(l.TransText); err != nil {
		return nil, err
	}
	l.Records, err = ParseRecords(l.PlainText)
	return l, err
}

// State is xfs_logprint -t's "log tail: T head: H state: <S>" line.
type State struct {
	Tail, Head uint32
	Clean      bool
}

var stateRE = regexp.MustCompile(`log tail: (\d+) head: (\d+) state: <(\w+)>`)

// ParseState finds the state line.
func ParseState(out string) (State, error) {
	m := stateRE.FindStringSubmatch(out)
	if m == nil {
		return State{}, fmt.Errorf("no \"log tail: T head: H state: <S>\" line")
	}
	tail, _ := strconv.ParseUint(m[1], 10, 32)
	head, _ := strconv.ParseUint(m[2], 10, 32)
	return State{uint32(tail), uint32(head), m[3] == "CLEAN"}, nil
}

// Trans is one transaction of xfs_logprint -t.
type Trans struct {
	TID      uint32 // the op headers' tid
	NumItems int    // th_num_items (regions, since delayed logging)
	HdrTID   uint32 // th_tid
	Items    []*Item
}

// Item is one item of a transaction: its label ("BUF", "INO", "EFI",
// "DQ"), the region count and lengths, and the fields its detail lines
// print, by the name they print them under (lower case: "blkno", "len",
// "flags", "ino", "dsize", "num_extents", "id", "ag", ...), in the base
// they print them in. Extents are the "(s: ..., l: ...)" lists, each as
// its numbers in order.
type Item struct {
	Label        string
	Count, Total int
	Lens         []int
	Fields       map[string]uint64
	Extents      [][]uint64
	Detail       []string
}

var (
	transRE   = regexp.MustCompile(`^TRANS: tid:0x([0-9a-f]+)\s+#items:(\d+)\s+trans:0x([0-9a-f]+)`)
	itemRE    = regexp.MustCompile(`^(BUF|ICR|INO|EFD|EFI|ATTRD|ATTRI|RUD|RUI|CUD|CUI|BUD|BUI|DQ |QOFF): cnt:(\d+) total:(\d+) (.*)$`)
	lenRE     = regexp.MustCompile(`len:(\d+)`)
	extentRE  = regexp.MustCompile(`\(s: 0x([0-9a-f]+), l: (\d+)(?:, own: (-?\d+), off: (\d+))?(?:, f: 0x([0-9a-f]+))?\)`)
	detailRES = []*regexp.Regexp{
		regexp.MustCompile(`start (blkno):0x([0-9a-f]+)\s+(len):(\d+)\s+bmap (size):(\d+)\s+(flags):0x([0-9a-f]+)`),
		regexp.MustCompile(`(ino):0x([0-9a-f]+)\s+(flags):0x([0-9a-f]+)\s+(dsize):(\d+)`),
		regexp.MustCompile(`(num_extents): ?(\d+)\s+(id): ?0x([0-9a-f]+)`),
		regexp.MustCompile(`^\s*(?:RUD|CUD|BUD|ATTRD):\s+#regs: \d+\s+(id): 0x([0-9a-f]+)`),
		regexp.MustCompile(`#(regs): ?(\d+)`),
		regexp.MustCompile(`#(ag): (\d+)\s+(agbno): 0x([0-9a-f]+)\s+(len): (\d+)`),
		regexp.MustCompile(`(cnt): (\d+)\s+(isize): (\d+)\s+(gen): 0x([0-9a-f]+)`),
		regexp.MustCompile(`(name_len): (\d+), (value_len): (\d+)\s+(id): 0x([0-9a-f]+)`),
	}
)

// hexFields are the fields xfs_logprint prints in hex.
var hexFields = map[string]bool{"blkno": true, "flags": true, "ino": true, "id": true, "agbno": true, "gen": true}

// ParseTrans parses xfs_logprint -t: its state and transactions.
func ParseTrans(out string) (State, []*Trans, error) {
	st, err := ParseState(out)
	if err != nil {
		return st, nil, err
	}
	var trans []*Trans
	var item *Item
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		line := sc.Text()
		if m := transRE.FindStringSubmatch(line); m != nil {
			tid, _ := strconv.ParseUint(m[1], 16, 32)
			n, _ := strconv.Atoi(m[2])
			htid, _ := strconv.ParseUint(m[3], 16, 32)
			trans = append(trans, &Trans{TID: uint32(tid), NumItems: n, HdrTID: uint32(htid)})
			item = nil
			continue
		}
		if m := itemRE.FindStringSubmatch(line); m != nil {
			if len(trans) == 0 {
				return st, nil, fmt.Errorf("item before any transaction: %q", line)
			}
			item = &Item{Label: strings.TrimSpace(m[1]), Fields: map[string]uint64{}}
			item.Count, _ = strconv.Atoi(m[2])
			item.Total, _ = strconv.Atoi(m[3])
			for _, l := range lenRE.FindAllStringSubmatch(m[4], -1) {
				n, _ := strconv.Atoi(l[1])
				item.Lens = append(item.Lens, n)
			}
			t := trans[len(trans)-1]
			t.Items = append(t.Items, item)
			continue
		}
		if strings.HasPrefix(line, "LOG REC") || strings.HasPrefix(line, "====") {
			item = nil
		}
		if item == nil || strings.TrimSpace(line) == "" {
			continue
		}
		// Every line up to the next item is the item's: the detail lines
		// of -t are tab-indented, but some intents' are not.
		item.Detail = append(item.Detail, line)
		parseDetail(item, line)
	}
	return st, trans, sc.Err()
}

// parseDetail takes the fields and extents of one detail line.
func parseDetail(item *Item, line string) {
	for _, re := range detailRES {
		m := re.FindStringSubmatch(line)
		for i := 1; i+1 < len(m); i += 2 {
			if _, seen := item.Fields[m[i]]; seen {
				continue // the first print of a name wins (ICR's "len" after BUF's)
			}
			base := 10
			if hexFields[m[i]] {
				base = 16
			}
			v, err := strconv.ParseUint(m[i+1], base, 64)
			if err == nil {
				item.Fields[m[i]] = v
			}
		}
	}
	for _, m := range extentRE.FindAllStringSubmatch(line, -1) {
		var e []uint64
		for i, s := range m[1:] {
			if s == "" {
				continue
			}
			base := 10
			if i == 0 || i == 4 {
				base = 16
			}
			if i == 2 { // own: signed
				v, _ := strconv.ParseInt(s, 10, 64)
				e = append(e, uint64(v))
				continue
			}
			v, _ := strconv.ParseUint(s, base, 64)
			e = append(e, v)
		}
		item.Extents = append(item.Extents, e)
	}
}

// Record is one record of xfs_logprint's plain output.
type Record struct {
	Cycle, Version uint32
	LSN, TailLSN   [2]uint32 // cycle, block
	Len            int
	Prev           int64 // printed signed: -1 for the first record
	NumOps         int
	UUID, Format   string
	HSize          uint32
	ExtCycles      []uint32
	Ops            []Op
	ItemLines      []string // what it printed of the ops' data
}

// Op is one "Oper (N): tid: T  len: L  clientid: C  flags: F" line.
type Op struct {
	Index  int
	TID    uint32
	Len    uint32
	Client string // TRANS, LOG, ERROR
	Flags  string // "START COMMIT", "none"
}

var (
	recHeadRE = regexp.MustCompile(`^cycle: (\d+)\s+version: (\d+)\s+lsn: (\d+),(\d+)\s+tail_lsn: (\d+),(\d+)`)
	recLenRE  = regexp.MustCompile(`^length of Log Record: (\d+)\s+prev offset: (-?\d+)\s+num ops: (\d+)`)
	recUUIDRE = regexp.MustCompile(`^uuid: (\S+)\s+format: (.*)$`)
	recSizeRE = regexp.MustCompile(`^h_size: (\d+)`)
	extHeadRE = regexp.MustCompile(`^extended-header: cycle: (\d+)`)
	opRE      = regexp.MustCompile(`^Oper \((\d+)\): tid: ([0-9a-f]+)\s+len: (\d+)\s+clientid: (\w+)\s+flags: (.*?)\s*$`)
)

// ParseRecords parses the plain output: every record it printed, in the
// order printed (the whole physical log, oldest first).
func ParseRecords(out string) ([]*Record, error) {
	var recs []*Record
	var r *Record
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	num := func(s string) uint32 { v, _ := strconv.ParseUint(s, 10, 32); return uint32(v) }
	for sc.Scan() {
		line := sc.Text()
		if m := recHeadRE.FindStringSubmatch(line); m != nil {
			r = &Record{Cycle: num(m[1]), Version: num(m[2]), LSN: [2]uint32{num(m[3]), num(m[4])}, TailLSN: [2]uint32{num(m[5]), num(m[6])}}
			recs = append(recs, r)
			continue
		}
		if r == nil {
			continue
		}
		if m := recLenRE.FindStringSubmatch(line); m != nil {
			r.Len, _ = strconv.Atoi(m[1])
			r.Prev, _ = strconv.ParseInt(m[2], 10, 64)
			r.NumOps, _ = strconv.Atoi(m[3])
			continue
		}
		if m := recUUIDRE.FindStringSubmatch(line); m != nil {
			r.UUID, r.Format = m[1], m[2]
			continue
		}
		if m := recSizeRE.FindStringSubmatch(line); m != nil {
			r.HSize = num(m[1])
			continue
		}
		if m := extHeadRE.FindStringSubmatch(line); m != nil {
			r.ExtCycles = append(r.ExtCycles, num(m[1]))
			continue
		}
		if m := opRE.FindStringSubmatch(line); m != nil {
			idx, _ := strconv.Atoi(m[1])
			tid, _ := strconv.ParseUint(m[2], 16, 32)
			r.Ops = append(r.Ops, Op{Index: idx, TID: uint32(tid), Len: num(m[3]), Client: m[4], Flags: m[5]})
			continue
		}
		if strings.HasPrefix(line, "----") || strings.HasPrefix(line, "====") || strings.HasPrefix(line, "~~~~") || line == "" {
			continue
		}
		r.ItemLines = append(r.ItemLines, line)
	}
	return recs, sc.Err()
}
