package fsys

import (
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/xfsbox/xfsbox/repair/store"
	xlog "github.com/xfsbox/xfsbox/xfsformat/log"
)

// span is n log blocks stamped with one cycle.
type span struct{ n, cycle uint32 }

// fakeLog is a v2 log of the spans' blocks, each stamped with its cycle
// (no records: findHead looks at nothing else), and a count of the
// blocks findHead reads.
func fakeLog(spans ...span) (*logReader, *countingDevice) {
	var buf []byte
	for _, s := range spans {
		for range s.n {
			bb := make([]byte, xlog.BBSize)
			binary.BigEndian.PutUint32(bb, s.cycle)
			buf = append(buf, bb...)
		}
	}
	dev := &countingDevice{MemDevice: buf}
	img := store.NewImage(dev, int64(len(buf)), "fake log", false)
	return &logReader{img: img, nbb: uint32(len(buf) / xlog.BBSize), logv2: true}, dev
}

type countingDevice struct {
	store.MemDevice
	read int64
}

func (d *countingDevice) ReadAt(p []byte, off int64) (int, error) {
	d.read += int64(len(p))
	return d.MemDevice.ReadAt(p, off)
}

// linearHead is the head as the whole log read block by block gives it
// (findHead's way until it searched like the kernel): the first block
// whose cycle is zero or behind block 0's.
func linearHead(l *logReader) uint32 {
	c0, _ := l.cycleAt(0)
	if c0 == 0 {
		return 0
	}
	for bb := uint32(1); bb < l.nbb; bb++ {
		if c, _ := l.cycleAt(bb); c == 0 || int32(c-c0) < 0 {
			return bb
		}
	}
	return 0
}

// TestFindHead: the head of logs laid out as the kernel's xlog_find_head
// and xlog_find_zeroed describe them (their comments' pictures: x is the
// cycle of the last block), with holes where an iclog never landed
// behind one that did. Where the whole log read block by block finds
// the same head, it must agree; the case it does not (a hole at the end
// of the log while the head is near its start) is where the kernel
// looks only at the window before the cycle's change. Each finds the
// head reading a few windows, not the log.
func TestFindHead(t *testing.T) {
	const n = 20000 // blocks; the window is 4096
	for _, tc := range []struct {
		name     string
		spans    []span
		head     uint32
		linearOK bool // the linear scan finds the same head
	}{
		{"zeroed", []span{{n, 0}}, 0, true},
		{"written in part", []span{{5000, 1}, {n - 5000, 0}}, 5000, true},
		{"written in part, a hole before", []span{{5000, 1}, {100, 0}, {200, 1}, {n - 5300, 0}}, 5000, true},
		{"x+1 ... | x", []span{{7000, 3}, {n - 7000, 2}}, 7000, true},
		{"x+1 | x | x+1 | x", []span{{7000, 3}, {200, 2}, {300, 3}, {n - 7500, 2}}, 7000, true},
		{"all x: the head at the end", []span{{n, 3}}, 0, true},
		{"x | x ... | x-1 | x", []span{{19000, 3}, {100, 2}, {n - 19100, 3}}, 19000, true},
		{"x | x+1 | x ... | x", []span{{1, 3}, {49, 4}, {n - 50, 3}}, 0, true},
		{"x | x+1 | x ... | x-1 | x", []span{{1, 3}, {49, 4}, {18950, 3}, {100, 2}, {n - 19100, 3}}, 19000, true},
		{"x+1 ... | x near the start", []span{{100, 3}, {n - 100, 2}}, 100, true},
		{"x+1 ... | x | x-1 | x, the head near the start", []span{{100, 3}, {19800, 2}, {50, 1}, {50, 2}}, 19900, false},
		{"x+1 | x | x+1 | x ..., the head near the start", []span{{50, 3}, {20, 2}, {30, 3}, {n - 100, 2}}, 50, true},
		// xfs_mdrestore's fresh log: an unmount record of cycle 2,
		// zeroes to the first 256 KiB record's end, records of cycle 1
		// (the kernel's window looks for cycle 1 alone and then moves
		// its head from 512 to the record at 0, calling it partial).
		{"mdrestore", []span{{2, 2}, {510, 0}, {n - 512, 1}}, 2, true},
		{"x+1 | 0 | x+1 | x", []span{{7000, 3}, {200, 0}, {300, 3}, {n - 7500, 2}}, 7000, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, dev := fakeLog(tc.spans...)
			if l.nbb != n {
				t.Fatalf("the case has %d blocks, not %d", l.nbb, n)
			}
			head, _, err := l.findHead()
			if err != nil {
				t.Fatal(err)
			}
			if head != tc.head {
				t.Errorf("head %d, want %d", head, tc.head)
			}
			if read := dev.read / xlog.BBSize; read > 2*int64(headWindow(true))+64 {
				t.Errorf("read %d blocks to find the head", read)
			}
			if lin := linearHead(l); (lin == tc.head) != tc.linearOK {
				t.Errorf("the linear scan finds the head at %d (agreement expected: %v)", lin, tc.linearOK)
			}
		})
	}
}

// TestFindHeadSmallLogs: logs smaller than the window, with the change
// of cycle everywhere, agree with the linear scan.
func TestFindHeadSmallLogs(t *testing.T) {
	for _, n := range []uint32{2, 3, 64, 1000, 4096, 4097, 5000} {
		for _, at := range []uint32{1, n / 3, n / 2, n - 1} {
			if at == 0 || at >= n {
				continue
			}
			t.Run(fmt.Sprintf("%d/%d", n, at), func(t *testing.T) {
				for _, spans := range [][]span{
					{{at, 5}, {n - at, 4}},
					{{at, 1}, {n - at, 0}},
				} {
					l, _ := fakeLog(spans...)
					head, _, err := l.findHead()
					if err != nil {
						t.Fatal(err)
					}
					if lin := linearHead(l); head != lin || head != at {
						t.Errorf("%v: head %d, the linear scan's %d, want %d", spans, head, lin, at)
					}
				}
			})
		}
	}
}
