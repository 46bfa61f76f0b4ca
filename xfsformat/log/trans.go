package log

import (
	"encoding/binary"
	"fmt"
)

// Transactions. Since delayed logging, what the log holds as a
// "transaction" is a checkpoint of the CIL: a start op, a transaction
// header region, the regions of every item, a commit op, all under one
// transaction id (oh_tid). Each item's first region is its format
// structure, whose second 16-bit word says how many regions the item has;
// a region split across records arrives as a CONTINUE piece and WAS_CONT
// pieces. The Assembler puts them back together as the kernel's recovery
// does (xlog_recover_process_ophdr and what it calls), one transaction
// per id from its START op to its COMMIT op.
const (
	// TransHeaderMagic is th_magic, "TRAN" in the writer's byte order.
	TransHeaderMagic = 0x5452414e
	TransHeaderSize  = 16
	// TransCheckpoint is th_type of every CIL checkpoint.
	TransCheckpoint = 40
	// MaxRegionsInItem is XLOG_MAX_REGIONS_IN_ITEM: a buffer item of a
	// 64 KiB block with every other 128-byte chunk dirty, plus its format.
	MaxRegionsInItem = 65536/128/2 + 1
	// DefaultMaxOpenBytes bounds what an Assembler holds of the
	// transactions not yet committed when MaxOpenBytes is 0.
	DefaultMaxOpenBytes = 256 << 20
	// minRegionBytes is what an Assembler keeps of every region however
	// small its MaxRegionBytes (the logged inode core, attribute names),
	// formatRegionBytes what it keeps of an item's format region, which
	// may list many extents.
	minRegionBytes    = 512
	formatRegionBytes = 64 << 10
)

// TransHeader is xfs_trans_header, in the writer's byte order. Since
// delayed logging NumItems counts the checkpoint's regions, not its
// items.
type TransHeader struct {
	Magic    uint32
	Type     uint32
	TID      uint32
	NumItems uint32
}

// DecodeTransHeader decodes a transaction header region.
func DecodeTransHeader(b []byte, order binary.ByteOrder) (TransHeader, error) {
	if len(b) < TransHeaderSize {
		return TransHeader{}, errShort("trans header", TransHeaderSize, len(b))
	}
	return TransHeader{Magic: order.Uint32(b), Type: order.Uint32(b[4:]), TID: order.Uint32(b[8:]), NumItems: order.Uint32(b[12:])}, nil
}

// Region is one region of a log item.
type Region struct {
	Len  int    // its length in the log
	Data []byte // its bytes, or the first of them the Assembler kept
}

// Whole reports whether Data holds all of the region.
func (r Region) Whole() bool { return len(r.Data) == r.Len }

// RawItem is a log item as assembled: its regions, the first being its
// format structure.
type RawItem struct {
	// Total is the number of regions the item's format declares.
	Total   int
	Regions []Region
}

// Transaction is one transaction (a checkpoint) as the log holds it.
type Transaction struct {
	TID       uint32
	StartLSN  uint64 // of the record holding its START op
	CommitLSN uint64 // of the record holding its COMMIT op; 0 while open
	// Order is the byte order of its items (the start record's h_fmt).
	Order     binary.ByteOrder
	Header    TransHeader
	HeaderLen int // bytes of the header seen (TransHeaderSize when whole)
	Items     []*RawItem
	// Problems are what the kernel's recovery would refuse in this
	// transaction (it stops recovery at the first); a transaction with
	// problems must not be replayed.
	Problems []string

	hdr    [TransHeaderSize]byte
	broken bool // stop adding: the rest would be misread
	held   int64
}

// Assembler reassembles transactions from records fed in log order,
// tail to head.
type Assembler struct {
	// MaxRegionBytes, when not 0, keeps only the first MaxRegionBytes
	// bytes of each region (at least 512: the logged inode core whole;
	// of format regions at least 64 KiB); Region.Len keeps the full
	// length. Views use it; a replay needs every byte (0).
	MaxRegionBytes int
	// MaxOpenBytes bounds the bytes held by transactions not yet
	// committed (DefaultMaxOpenBytes when 0): past it Add fails rather
	// than hold a damaged or hostile log in memory.
	MaxOpenBytes int64
	// Problems are what could not be attributed to a transaction (ops of
	// unknown clients).
	Problems []string
	// Orphans counts COMMIT ops of transactions whose START op was never
	// fed: begun before the first record fed (behind the tail, or
	// overwritten), so not assembled.
	Orphans int

	open map[uint32]*Transaction
	held int64
}

// Add feeds one record's ops. commit is called with each transaction
// whose COMMIT op the record holds, in op order; the Transaction is the
// callee's. Records with problems (Record.Problems) should not be fed:
// the kernel stops at the first.
func (a *Assembler) Add(rec *Record, commit func(*Transaction) error) error {
	if a.open == nil {
		a.open = map[uint32]*Transaction{}
	}
	for i := range rec.Ops {
		op := &rec.Ops[i]
		if op.ClientID != ClientTransaction && op.ClientID != ClientLog {
			a.Problems = append(a.Problems, fmt.Sprintf("record %s op %d: bad clientid %#x", LSNText(rec.Header.LSN), i, op.ClientID))
			continue
		}
		t := a.open[op.TID]
		if t == nil {
			// Only a START op opens a transaction; ops of one that
			// began before the tail, and unmount records, are skipped.
			if op.Flags&OpStart != 0 {
				a.open[op.TID] = &Transaction{TID: op.TID, StartLSN: rec.Header.LSN, Order: rec.Header.Order()}
			} else if op.Flags&OpCommit != 0 {
				a.Orphans++
			}
			continue
		}
		flags := op.Flags &^ OpEnd
		if flags&OpWasCont != 0 {
			flags &^= OpContinue
		}
		switch flags {
		case 0, OpContinue:
			a.addRegion(t, op.Data)
		case OpWasCont:
			a.addCont(t, op.Data)
		case OpCommit:
			delete(a.open, t.TID)
			a.held -= t.held
			t.held = 0
			t.CommitLSN = rec.Header.LSN
			if t.HeaderLen != TransHeaderSize {
				t.problem("committed without a whole transaction header (%d bytes)", t.HeaderLen)
			}
			if n := len(t.Items); n > 0 && len(t.Items[n-1].Regions) < t.Items[n-1].Total {
				t.problem("its last item has %d of its %d regions", len(t.Items[n-1].Regions), t.Items[n-1].Total)
			}
			if err := commit(t); err != nil {
				return err
			}
		case OpUnmount:
			// The kernel drops the transaction ("Unmount LR").
			delete(a.open, t.TID)
			a.held -= t.held
		default:
			t.problem("op %d of record %s has flags %s", i, LSNText(rec.Header.LSN), FlagNames(op.Flags))
		}
		if lim := a.maxOpen(); a.held > lim {
			return fmt.Errorf("the log's open transactions hold more than %d bytes (at record %s): not assembled", lim, LSNText(rec.Header.LSN))
		}
	}
	return nil
}

// Open returns the transactions started but not committed, in no order:
// the kernel does not replay them.
func (a *Assembler) Open() []*Transaction {
	out := make([]*Transaction, 0, len(a.open))
	for _, t := range a.open {
		out = append(out, t)
	}
	return out
}

// NumOpen is the number of transactions started but not committed.
func (a *Assembler) NumOpen() int { return len(a.open) }

func (a *Assembler) maxOpen() int64 {
	if a.MaxOpenBytes > 0 {
		return a.MaxOpenBytes
	}
	return DefaultMaxOpenBytes
}

// keep copies what is kept of a region's piece, given how much of the
// region is kept already.
func (a *Assembler) keep(t *Transaction, format bool, have int, data []byte) []byte {
	n := len(data)
	if a.MaxRegionBytes > 0 {
		lim := max(a.MaxRegionBytes, minRegionBytes)
		if format {
			lim = max(lim, formatRegionBytes)
		}
		n = max(0, min(n, lim-have))
	}
	t.held += int64(n)
	a.held += int64(n)
	return data[:n]
}

// addRegion adds an op's data as a new region (xlog_recover_add_to_trans).
func (a *Assembler) addRegion(t *Transaction, data []byte) {
	if len(data) == 0 || t.broken {
		return
	}
	if t.HeaderLen < TransHeaderSize && len(t.Items) == 0 {
		if t.HeaderLen > 0 {
			t.problem("a new region before the rest of the transaction header")
			return
		}
		if len(data) < 4 || t.Order.Uint32(data) != TransHeaderMagic {
			t.problem("the first region is not a transaction header (no TRAN magic)")
			return
		}
		if len(data) > TransHeaderSize {
			t.problem("transaction header region of %d bytes", len(data))
			return
		}
		t.HeaderLen = copy(t.hdr[:], data)
		if t.HeaderLen == TransHeaderSize {
			t.Header, _ = DecodeTransHeader(t.hdr[:], t.Order)
		}
		return
	}
	var it *RawItem
	if n := len(t.Items); n > 0 && len(t.Items[n-1].Regions) < t.Items[n-1].Total {
		it = t.Items[n-1]
	} else {
		if len(data) < 4 {
			t.problem("item %d: a first region of %d bytes has no size field", len(t.Items), len(data))
			return
		}
		total := int(t.Order.Uint16(data[2:]))
		if total == 0 || total > MaxRegionsInItem {
			t.problem("item %d (type %#x): %d regions (must be 1 to %d)", len(t.Items), t.Order.Uint16(data), total, MaxRegionsInItem)
			return
		}
		it = &RawItem{Total: total}
		t.Items = append(t.Items, it)
	}
	kept := a.keep(t, len(it.Regions) == 0, 0, data)
	it.Regions = append(it.Regions, Region{Len: len(data), Data: append([]byte(nil), kept...)})
}

// addCont appends an op's data to the last region
// (xlog_recover_add_to_cont_trans).
func (a *Assembler) addCont(t *Transaction, data []byte) {
	if t.broken {
		return
	}
	if t.HeaderLen < TransHeaderSize && len(t.Items) == 0 {
		if t.HeaderLen == 0 || t.HeaderLen+len(data) > TransHeaderSize {
			t.problem("a continued transaction header of %d+%d bytes", t.HeaderLen, len(data))
			return
		}
		t.HeaderLen += copy(t.hdr[t.HeaderLen:], data)
		if t.HeaderLen == TransHeaderSize {
			t.Header, _ = DecodeTransHeader(t.hdr[:], t.Order)
		}
		return
	}
	n := len(t.Items)
	if n == 0 || len(t.Items[n-1].Regions) == 0 {
		t.problem("a continued region with no region before it")
		return
	}
	it := t.Items[n-1]
	r := &it.Regions[len(it.Regions)-1]
	r.Data = append(r.Data, a.keep(t, len(it.Regions) == 1, len(r.Data), data)...)
	r.Len += len(data)
}

func (t *Transaction) problem(format string, args ...any) {
	t.Problems = append(t.Problems, fmt.Sprintf(format, args...))
	t.broken = true
}
