package forensics

import (
	"github.com/xfsbox/xfsbox/xfsformat"
	xlog "github.com/xfsbox/xfsbox/xfsformat/log"
)

// InodeSnapshot is one inode item found in the log: the inode as one
// committed transaction left it.
type InodeSnapshot struct {
	// LSN is the LSN of the record holding the transaction's commit.
	LSN uint64
	Ino uint64
	// Fields is the item's ilf_fields (xlog.ILog* bits): which of the
	// parts below it carries.
	Fields uint32
	// Core is the logged core (always logged with an inode item).
	Core *xlog.LogDinode
	// Extents is the data fork's extent list when the item logs it
	// (DEXT), in file order; nil otherwise.
	Extents []xfsformat.BmbtRec
	// Local is the data fork's bytes when it is logged in local format
	// (DDATA: a shortform directory, an inline symlink); nil otherwise.
	Local []byte
	// BtreeRoot is the data fork's bmbt root as logged (DBROOT), raw
	// bytes in the on-disk root layout; nil otherwise.
	BtreeRoot []byte
}

// BufferSnapshot is one buffer item found in the log.
type BufferSnapshot struct {
	LSN uint64
	// Daddr and Len locate the buffer on the data device (512-byte
	// basic blocks).
	Daddr uint64
	Len   uint32
	// Cancelled is a cancelled buffer (the block was freed).
	Cancelled bool
	// Regions are the logged byte ranges of the buffer: Data at Offset.
	// A block logged whole has one region covering it.
	Regions []BufRegion
}

// BufRegion is a byte range of a logged buffer.
type BufRegion struct {
	Offset int
	Data   []byte
}

// IntentSnapshot is an intent item (EFI, RUI, BUI, CUI) or its done
// item, as found in the log.
type IntentSnapshot struct {
	LSN     uint64
	Type    xlog.ItemType
	ID      uint64
	Extents []xlog.IntentExtent
}

// HistoryVisitor receives the log's items, oldest first (LSN order).
// Any nil callback is skipped. A callback's error ends the scan with it.
type HistoryVisitor struct {
	Inode  func(*InodeSnapshot) error
	Buffer func(*BufferSnapshot) error
	Intent func(*IntentSnapshot) error
}

// HistoryStats says what a scan of the log read.
type HistoryStats struct {
	// OldestLSN and NewestLSN bound the records read.
	OldestLSN, NewestLSN uint64
	Records              int
	Transactions         int
	// Incomplete counts transactions whose start lies before the oldest
	// surviving record (overwritten) or whose records are damaged.
	Incomplete int
	// Wrapped says the log has been written all the way round at least
	// once: records older than OldestLSN are lost.
	Wrapped bool
}
