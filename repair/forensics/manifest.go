package forensics

import "github.com/xfsbox/xfsbox/repair/forensics/history"

// The recovery manifest: what `xfsbox recover` writes beside the files it
// recovers (manifest.json), and what the mount's deleted/manifest.json
// holds. It is the JSON a script or a ground-truth scorer reads, so its
// field names are stable.

// Verdict is what the filesystem says today about one extent of a
// deleted file.
type Verdict string

const (
	// Intact: every block is free now and nothing was allocated over it
	// since the deletion, as far as the free-space and reverse-mapping
	// btrees and the log covering the time since show.
	Intact Verdict = "intact"
	// Reused: some block is owned now by someone else (Owner says who),
	// or the log shows it allocated again after the deletion.
	Reused Verdict = "reused"
	// Unknown: the evidence does not decide (the log no longer covers the
	// time since the deletion, the extent lies outside the filesystem).
	Unknown Verdict = "unknown"
)

// Manifest is the whole recovery manifest.
type Manifest struct {
	Image string `json:"image"`
	// ImageSHA256Before and After are the image's sha256 before and after
	// the examination, when asked for (--hash).
	ImageSHA256Before string `json:"image_sha256_before,omitempty"`
	ImageSHA256After  string `json:"image_sha256_after,omitempty"`
	// Read says, in words, what the examination read and from where.
	Read []string `json:"read"`
	// Log says what part of the log was read.
	Log   history.Stats `json:"log"`
	Files []DeletedFile `json:"files"`
}

// DeletedFile is one deleted (or open-but-unlinked) file.
type DeletedFile struct {
	Ino uint64 `json:"ino"`
	// Generation is the inode's generation when the evidence names it.
	Generation *uint32 `json:"generation,omitempty"`
	// Kind is "regular", "directory", "symlink", "chrdev", "blkdev",
	// "fifo", "socket", or "unknown".
	Kind string `json:"kind"`
	// Path is the best recovered path (absolute in the filesystem);
	// empty when no name was found.
	Path string `json:"path,omitempty"`
	// Names are every name found for the inode, with where each came
	// from; Path is one of them.
	Names []NameEvidence `json:"names,omitempty"`
	// Unlinked marks an open-but-unlinked file (on an AGI unlinked list)
	// rather than a deleted one.
	Unlinked bool `json:"unlinked,omitempty"`
	// DeletedAt is the deletion time (the freed inode's ctime), RFC 3339
	// with nanoseconds; empty when unknown.
	DeletedAt string `json:"deleted_at,omitempty"`
	// Atime, Mtime and Crtime are the freed inode's other times (a freed
	// inode keeps them), RFC 3339 with nanoseconds.
	Atime  string `json:"atime,omitempty"`
	Mtime  string `json:"mtime,omitempty"`
	Crtime string `json:"crtime,omitempty"`
	// Mode, UID and GID are the file's as the log last held them (0 and
	// nil when the log has no life of it).
	Mode uint16  `json:"mode,omitempty"`
	UID  *uint32 `json:"uid,omitempty"`
	GID  *uint32 `json:"gid,omitempty"`
	// Size is the file's size in bytes as the evidence gives it; nil when
	// unknown (a recovered file is then marked incomplete, never padded).
	Size *uint64 `json:"size"`
	// SizeFrom says where Size came from ("log LSN c,b", "inode").
	SizeFrom string         `json:"size_from,omitempty"`
	Extents  []ExtentClaim  `json:"extents,omitempty"`
	MapFrom  string         `json:"map_from,omitempty"`
	Target   string         `json:"symlink_target,omitempty"`
	Recovery *RecoveredFile `json:"recovered,omitempty"`
	// Notes say in words what is missing or doubtful.
	Notes []string `json:"notes,omitempty"`
}

// NameEvidence is one recovered name of a deleted inode.
type NameEvidence struct {
	Path string `json:"path"`
	// Dir is the inode of the directory that held the entry.
	Dir uint64 `json:"dir"`
	// Source is "dir-block" (a removed entry carved from a live
	// directory's data block), "log" (a directory as logged),
	// "free-dir-block" (an entry of a directory data block found in free
	// space: a deleted directory's, or one a directory shed),
	// "shortform-tail" (an entry in the stale bytes past a shortform
	// directory's end).
	Source string `json:"source"`
	// Where locates the evidence (daddr and offset, or LSN).
	Where string `json:"where"`
	// HashChecked says a stale leaf entry with the name's hash confirmed
	// the name.
	HashChecked bool `json:"hash_checked,omitempty"`
}

// ExtentClaim is one extent of a deleted file's recovered map.
type ExtentClaim struct {
	FileOffset uint64  `json:"file_offset"` // in filesystem blocks
	StartBlock uint64  `json:"start_block"` // filesystem block number
	Blocks     uint32  `json:"blocks"`
	Unwritten  bool    `json:"unwritten,omitempty"`
	Verdict    Verdict `json:"verdict"`
	// Owner names the current owner of a reused extent ("inode 1234",
	// "inobt of AG 2", "log: allocated at LSN c,b").
	Owner string `json:"owner,omitempty"`
	Why   string `json:"why,omitempty"`
}

// RecoveredFile is what the recovery wrote for a deleted file.
type RecoveredFile struct {
	// File is the path of the recovered file, relative to the output
	// directory.
	File   string `json:"file"`
	Bytes  uint64 `json:"bytes"`
	SHA256 string `json:"sha256"`
	// Complete says every byte up to Size came from intact extents,
	// unwritten extents or holes; false means Size is unknown, or some
	// extent was reused (Gaps) or of unknown history (Unverified).
	Complete bool `json:"complete"`
	// Gaps are file byte ranges not recovered (their extents were
	// reused: written as zeros), as "OFFSET+LEN".
	Gaps []string `json:"gaps,omitempty"`
	// Unverified are byte ranges read from extents of unknown history:
	// the bytes on disk, which may no longer be the file's.
	Unverified []string `json:"unverified,omitempty"`
}
