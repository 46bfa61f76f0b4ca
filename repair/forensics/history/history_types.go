package history

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
	// BtreeRoot is the data fork's bmbt root as logged (DBROOT); nil
	// otherwise. It is not the on-disk root layout (xfs_bmdr_block):
	// xfs_inode_item_format_data_fork logs the in-memory root
	// (if_broot), a long-form btree block of if_broot_bytes whose
	// header is the 72-byte v5 one and whose pointers follow room for as
	// many keys as the bytes allow; recovery converts it
	// (xfs_bmbt_to_bmdr). xfsformat.NewBmbtBlock decodes it as it is.
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
	Regions []Region
}

// Region is a byte range of a logged buffer.
type Region struct {
	Offset int
	Data   []byte
}

// IntentSnapshot is an intent item (EFI, RUI, BUI, CUI) or its done
// item, as found in the log.
type IntentSnapshot struct {
	LSN  uint64
	Type xlog.ItemType
	// ID is the intent's id; in a done item, the id of the intent it
	// retires.
	ID uint64
	// Extents are the intent's (and an EFD's) extents; none in the other
	// done items.
	Extents []xlog.IntentExtent
}

// RecordSnapshot is one intact log record, as the scan met it.
type RecordSnapshot struct {
	LSN uint64
	// Block is the log block of its header, Blocks its length.
	Block, Blocks uint32
	// TailLSN is the record's h_tail_lsn: the oldest record whose
	// changes were not all on disk when it was written.
	TailLSN uint64
	NumOps  int
}

// TransSnapshot is one committed transaction (since delayed logging, a
// checkpoint of many): handed to the visitor before its items.
type TransSnapshot struct {
	TID uint32
	// StartLSN and CommitLSN are the LSNs of the records holding its
	// START and COMMIT ops.
	StartLSN, CommitLSN uint64
	// Items is its count of log items (of every type).
	Items int
}

// Visitor receives the log's records, transactions and items,
// oldest first (LSN order). Any nil callback is skipped. A callback's
// error ends the scan with it. What a callback is handed is its own.
type Visitor struct {
	Record func(*RecordSnapshot) error
	Trans  func(*TransSnapshot) error
	Inode  func(*InodeSnapshot) error
	Buffer func(*BufferSnapshot) error
	Intent func(*IntentSnapshot) error
}

// Stats says what a scan of the log read.
type Stats struct {
	// OldestLSN and NewestLSN bound the records read.
	OldestLSN uint64 `json:"oldest_lsn"`
	NewestLSN uint64 `json:"newest_lsn"`
	// Records are the intact records read, Transactions the committed
	// transactions whose every record was among them.
	Records      int `json:"records"`
	Transactions int `json:"transactions"`
	// Incomplete counts transactions whose start lies before the oldest
	// surviving record (overwritten) or whose records are damaged or
	// missing: seen in part, not handed out.
	Incomplete int `json:"incomplete"`
	// SkippedBlocks are the log blocks in no intact record: never
	// written, torn, overwritten in part, or damaged.
	SkippedBlocks int `json:"skipped_blocks"`
	// BadItems are items of handed-out transactions that did not decode
	// (an inode item without a whole core, say): not handed out.
	BadItems int `json:"bad_items"`
	// Wrapped says the log has been written all the way round at least
	// once: records older than OldestLSN are lost.
	Wrapped bool `json:"wrapped"`
}
