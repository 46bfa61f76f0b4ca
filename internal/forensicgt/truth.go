package forensicgt

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// Kind is what an entry is, in the manifest's words.
type Kind string

const (
	Regular   Kind = "regular"
	Directory Kind = "directory"
	Symlink   Kind = "symlink"
)

// DirFormat is a directory's format as xfs_db shows it.
type DirFormat string

const (
	// Shortform: entries in the inode (core.format local).
	Shortform DirFormat = "shortform"
	// Block: one directory block (magic XDB3) holding entries and leaf.
	Block DirFormat = "block"
	// Leaf: data blocks and one leaf block (magic 0x3df1) at the leaf
	// offset.
	Leaf DirFormat = "leaf"
	// Node: data blocks, a dabtree of leafn blocks (0x3dff) under a node
	// block (0x3ebe) at the leaf offset, and free-index blocks (XDF3).
	Node DirFormat = "node"
)

// Truth is what the generator made and did: the image, every entry that
// ever existed in it, which were deleted and in which order, and what
// the log and the freed blocks hold at the end.
type Truth struct {
	Spec Spec `json:"spec"`
	// Image is the image file's name, in the directory of truth.json.
	Image    string   `json:"image"`
	MkfsArgs []string `json:"mkfs_args"`
	Kernel   string   `json:"kernel"`
	Geometry Geometry `json:"geometry"`
	// Entries are every file, directory and symlink ever created, in
	// creation order (the root included); deleted ones are marked.
	Entries []*Entry `json:"entries"`
	Log     LogTruth `json:"log"`
	// Aged: the new data written after the deletions, and how many
	// blocks of deleted files' extents hold other bytes at the end.
	AgedBytes     int64 `json:"aged_bytes,omitempty"`
	ChangedBlocks int64 `json:"changed_blocks"`
	// Seconds is how long Generate took.
	Seconds float64 `json:"seconds"`
	// Dir is where truth.json was read from (not stored).
	Dir string `json:"-"`
}

// Geometry is the filesystem's geometry as xfs_db prints it (sb 0).
type Geometry struct {
	BlockSize    uint32 `json:"blocksize"`
	DirBlockSize uint32 `json:"dirblocksize"`
	AGBlocks     uint32 `json:"agblocks"`
	AGCount      uint32 `json:"agcount"`
	AGBlkLog     uint32 `json:"agblklog"`
	InodeSize    uint32 `json:"inodesize"`
	LogBlocks    uint32 `json:"logblocks"`
}

// ByteOffset is the image byte offset of filesystem block fsb.
func (g Geometry) ByteOffset(fsb uint64) int64 {
	ag := fsb >> g.AGBlkLog
	agbno := fsb & (1<<g.AGBlkLog - 1)
	return int64(ag*uint64(g.AGBlocks)+agbno) * int64(g.BlockSize)
}

// Entry is one file, directory or symlink.
type Entry struct {
	Path string `json:"path"` // absolute in the filesystem
	Ino  uint64 `json:"ino"`
	// Gen is the inode's generation while it lived (xfs_db core.gen).
	// Freeing the inode bumps the on-disk generation.
	Gen  uint32 `json:"gen"`
	Kind Kind   `json:"kind"`
	// Mode is core.mode as xfs_db prints it (with the type bits).
	Mode uint32 `json:"mode"`
	Size int64  `json:"size"`
	// SHA256 of a regular file's content as read back through the
	// kernel before the deletions (the aged files: after writing them).
	SHA256 string `json:"sha256,omitempty"`
	// Target is a symlink's target.
	Target string `json:"target,omitempty"`
	// Written are the byte ranges a sparse or preallocated file was
	// written in (the rest reads as zeros); nil: the whole file was.
	Written []Range `json:"written,omitempty"`
	Xattrs  []Xattr `json:"xattrs,omitempty"`
	// Parent is the parent directory's path and ParentFormat its format
	// before the deletions.
	Parent       string    `json:"parent,omitempty"`
	ParentFormat DirFormat `json:"parent_format,omitempty"`
	// DirFormat is a directory's own format before the deletions
	// (DirEvidence: the xfs_db output it rests on), DirFormatAfter a
	// surviving directory's at the end.
	DirFormat      DirFormat `json:"dir_format,omitempty"`
	DirEvidence    string    `json:"dir_evidence,omitempty"`
	DirFormatAfter DirFormat `json:"dir_format_after,omitempty"`
	// ForkFormat is the data fork's format (xfs_db core.format: local,
	// extents, btree) before the deletions; NExtents its extent count.
	ForkFormat string `json:"fork_format"`
	NExtents   int    `json:"nextents"`
	// Extents are the data fork's extents (xfs_db bmap) before the
	// deletions, in file order.
	Extents []Extent `json:"extents,omitempty"`
	// Group is the part of the tree the entry belongs to ("block",
	// "frag", "doomed", ...); Phase "aged" marks files written after the
	// deletions.
	Group string `json:"group"`
	Phase string `json:"phase,omitempty"`
	// Deleted marks a removed entry; DeleteOrder is its place in the
	// order of removals (1 is first), DeletedAt the time just before it
	// (RFC 3339, nanoseconds).
	Deleted     bool   `json:"deleted,omitempty"`
	DeleteOrder int    `json:"delete_order,omitempty"`
	DeletedAt   string `json:"deleted_at,omitempty"`
	// Log is what xfs_logprint finds of a deleted inode in the final
	// image's log.
	Log *LogSeen `json:"log_seen,omitempty"`
}

// Range is a byte range of a file.
type Range struct {
	Off int64 `json:"off"`
	Len int64 `json:"len"`
}

// Xattr is an extended attribute: its full name, and its value's length
// and sha256 (the value is Content(seed, path+"#xattr:"+name, size)).
type Xattr struct {
	Name   string `json:"name"`
	Size   int    `json:"size"`
	SHA256 string `json:"sha256"`
}

// Extent is a data fork extent, as xfs_db bmap prints it.
type Extent struct {
	FileOffset uint64 `json:"file_offset"` // filesystem blocks
	StartBlock uint64 `json:"start_block"` // filesystem block number
	Blocks     uint64 `json:"blocks"`
	Unwritten  bool   `json:"unwritten,omitempty"`
	// For a deleted file's extent, at the end: Changed are the block
	// ranges whose bytes differ from what they held before the
	// deletions; ReusedBy the files written after the deletions whose
	// extents overlap this one.
	Changed  []BlockRange `json:"changed,omitempty"`
	ReusedBy []string     `json:"reused_by,omitempty"`
}

// BlockRange is a run of filesystem blocks.
type BlockRange struct {
	Start  uint64 `json:"start"`
	Blocks uint64 `json:"blocks"`
}

// LogSeen is what the final image's log (read whole, xfs_logprint -s 0
// -t -i) holds of one inode.
type LogSeen struct {
	// Items counts its inode items.
	Items int `json:"items"`
	// Freed: an item shows it freed (mode 0).
	Freed bool `json:"freed"`
	// Sized: an item shows it alive with the size it had.
	Sized bool `json:"sized"`
	// Mapped: an item showing it alive logs its data fork's extents
	// (or bmbt root).
	Mapped bool `json:"mapped"`
}

// LogTruth is the log's story.
type LogTruth struct {
	Blocks uint32 `json:"blocks"` // filesystem blocks
	// HeadAfterDeletions is the log head once the deletions were forced
	// to it; HeadAtEnd the head before the final unmount.
	HeadAfterDeletions LSN `json:"head_after_deletions"`
	HeadAtEnd          LSN `json:"head_at_end"`
	// Wrapped: the head has gone a whole log's length past
	// HeadAfterDeletions, so every block holding a record of the
	// deletions has been written over.
	Wrapped bool `json:"wrapped"`
	// Churns counts the forced metadata changes of the wrapped variant.
	Churns int `json:"churns,omitempty"`
	// Tail, Head and Clean are xfs_logprint -t's state of the final
	// image.
	Tail  uint32 `json:"tail"`
	Head  uint32 `json:"head"`
	Clean bool   `json:"clean"`
	// Records counts the record headers physically in the log;
	// OldestRecord is the oldest one's LSN, ReadFrom the record
	// xfs_logprint read the log from (the oldest it could start at).
	Records      int `json:"records"`
	OldestRecord LSN `json:"oldest_record"`
	ReadFrom     LSN `json:"read_from"`
	// DeletedInLog, DeletedFreedInLog and DeletedSizedInLog count the
	// deleted entries with any inode item, an item showing them freed,
	// and (regular files) an item with their size, in the final log
	// (read whole by xfs_logprint from its oldest record).
	DeletedInLog      int `json:"deleted_in_log"`
	DeletedFreedInLog int `json:"deleted_freed_in_log"`
	DeletedSizedInLog int `json:"deleted_sized_in_log"`
	// DeletedMappedInLog counts the deleted regular files with extents
	// whose extent list (or bmbt root) is in an inode item of the log.
	DeletedMappedInLog int `json:"deleted_mapped_in_log"`
}

// Bytes is the true content of a regular file: Content in its written
// ranges, zeros elsewhere.
func (t *Truth) Bytes(e *Entry) []byte {
	b := Content(t.Spec.Seed, e.Path, e.Size)
	if e.Written == nil {
		return b
	}
	out := make([]byte, len(b))
	for _, r := range e.Written {
		if r.Off < 0 || r.Len < 0 || r.Off+r.Len > int64(len(b)) {
			continue
		}
		copy(out[r.Off:r.Off+r.Len], b[r.Off:r.Off+r.Len])
	}
	return out
}

// Deleted are the deleted entries, in deletion order.
func (t *Truth) Deleted() []*Entry {
	var out []*Entry
	for _, e := range t.Entries {
		if e.Deleted {
			out = append(out, e)
		}
	}
	sortByOrder(out)
	return out
}

// Live are the entries the final image still has.
func (t *Truth) Live() []*Entry {
	var out []*Entry
	for _, e := range t.Entries {
		if !e.Deleted {
			out = append(out, e)
		}
	}
	return out
}

// Lookup is the entry at path that the final image has, or else the
// last deleted one there; nil if no entry ever had that path.
func (t *Truth) Lookup(path string) *Entry {
	var found *Entry
	for _, e := range t.Entries {
		if e.Path == path && (found == nil || found.Deleted) {
			found = e
		}
	}
	return found
}

// ImagePath is the image's path (Dir joined with Image).
func (t *Truth) ImagePath() string { return filepath.Join(t.Dir, t.Image) }

// TruthFile is the name of the truth's JSON beside the image.
const TruthFile = "truth.json"

// Save writes the truth as JSON to path.
func (t *Truth) Save(path string) error {
	b, err := json.MarshalIndent(t, "", " ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// Load reads a truth saved by Save; its image is Image in path's
// directory.
func Load(path string) (*Truth, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var t Truth
	if err := json.Unmarshal(b, &t); err != nil {
		return nil, fmt.Errorf("forensicgt: %s: %w", path, err)
	}
	if len(t.Entries) == 0 || t.Image == "" || t.Geometry.BlockSize == 0 {
		return nil, fmt.Errorf("forensicgt: %s: not a truth (no entries, image or geometry)", path)
	}
	for i, e := range t.Entries {
		if e == nil {
			return nil, fmt.Errorf("forensicgt: %s: entry %d is null", path, i)
		}
	}
	t.Dir = filepath.Dir(path)
	return &t, nil
}
