package forensicgt

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
)

// Variant is what happens between the deletions and the final unmount.
type Variant string

const (
	// Fresh: the filesystem is unmounted right after the deletions. A
	// clean unmount leaves the log's old records physically in place, so
	// the log still holds the deletions (and the inodes as last logged
	// before them).
	Fresh Variant = "fresh"
	// Wrapped: after the deletions, metadata is churned (timestamps of
	// files that existed before the deletions, each change forced to the
	// log) until the log has been written all the way round past the
	// deletion records. No inode or block is allocated meanwhile.
	Wrapped Variant = "wrapped"
	// Aged: after the deletions, new files are written in the surviving
	// directories, reusing part of the freed space (Truth records which
	// extents).
	Aged Variant = "aged"
)

// Spec chooses the image and what is done to it. The zero value of a
// field means its default (Normalize).
type Spec struct {
	Variant Variant `json:"variant"`
	// Seed makes the names, contents and the deletion choice; 0 means 1.
	Seed uint64 `json:"seed"`
	// ImageSize is the image file's size in bytes: 512 MiB by default.
	ImageSize int64 `json:"image_size"`
	// BlockSize is the filesystem block size: 4096 by default.
	BlockSize int `json:"block_size"`
	// LogBlocks is the internal log's size in filesystem blocks: 0 is
	// mkfs.xfs's default (the wrapped variant: the smallest mkfs.xfs
	// allows), -1 the smallest mkfs.xfs allows.
	LogBlocks int `json:"log_blocks"`
	// Rmapbt makes the filesystem with the reverse-mapping btree.
	Rmapbt bool `json:"rmapbt"`
	// DeleteFraction is the share of the files of each live directory
	// (and of the fragmented, sparse, symlink and xattr groups) that is
	// deleted, at least one and never all of a group; the doomed/
	// subtrees go whole whatever it says. 0 means 0.25.
	DeleteFraction float64 `json:"delete_fraction"`
	// NodeEntries is the number of entries of /node (a node directory
	// with long names); /doomed/node gets 3/5 of it. 0 means 2000.
	NodeEntries int `json:"node_entries"`
	// ReuseFraction (aged) is the new data written after the deletions,
	// as a share of the bytes the deleted files held. 0 means 0.5.
	ReuseFraction float64 `json:"reuse_fraction"`
}

// Normalize returns the spec with every default filled in and checks it.
func (s Spec) Normalize() (Spec, error) {
	if s.Variant == "" {
		s.Variant = Fresh
	}
	switch s.Variant {
	case Fresh, Wrapped, Aged:
	default:
		return s, fmt.Errorf("forensicgt: unknown variant %q (fresh, wrapped, aged)", s.Variant)
	}
	if s.Seed == 0 {
		s.Seed = 1
	}
	if s.ImageSize == 0 {
		s.ImageSize = 512 << 20
	}
	if s.ImageSize < 64<<20 || s.ImageSize > 64<<30 {
		return s, fmt.Errorf("forensicgt: image size %d out of range (64 MiB to 64 GiB)", s.ImageSize)
	}
	if s.BlockSize == 0 {
		s.BlockSize = 4096
	}
	switch s.BlockSize {
	case 1024, 2048, 4096:
	default:
		return s, fmt.Errorf("forensicgt: block size %d: 1024, 2048 or 4096 (O_DIRECT writes need blocks no larger than a page)", s.BlockSize)
	}
	if s.LogBlocks == 0 && s.Variant == Wrapped {
		s.LogBlocks = -1
	}
	if s.LogBlocks < -1 {
		return s, fmt.Errorf("forensicgt: log size %d blocks", s.LogBlocks)
	}
	if s.DeleteFraction == 0 {
		s.DeleteFraction = 0.25
	}
	if s.DeleteFraction <= 0 || s.DeleteFraction >= 1 {
		return s, fmt.Errorf("forensicgt: delete fraction %v not in (0, 1)", s.DeleteFraction)
	}
	if s.NodeEntries == 0 {
		s.NodeEntries = 2000
	}
	if s.NodeEntries < 100 || s.NodeEntries > 100000 {
		return s, fmt.Errorf("forensicgt: %d node entries out of range (100 to 100000)", s.NodeEntries)
	}
	if s.ReuseFraction == 0 {
		s.ReuseFraction = 0.5
	}
	if s.ReuseFraction < 0 || s.ReuseFraction > 2 {
		return s, fmt.Errorf("forensicgt: reuse fraction %v out of range (0 to 2)", s.ReuseFraction)
	}
	return s, nil
}

// Key is a short hash of the normalized spec (its JSON), naming the
// spec's cache entries.
func (s Spec) Key() string {
	b, _ := json.Marshal(s)
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])[:8]
}

// String names the spec in a table: "fresh rmapbt 4k".
func (s Spec) String() string {
	r := "normap"
	if s.Rmapbt {
		r = "rmapbt"
	}
	out := fmt.Sprintf("%s %s %dk", s.Variant, r, s.BlockSize/1024)
	if s.LogBlocks > 0 {
		out += fmt.Sprintf(" log=%db", s.LogBlocks)
	} else if s.LogBlocks < 0 {
		out += " log=min"
	}
	return out
}
