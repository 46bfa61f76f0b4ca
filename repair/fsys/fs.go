package fsys

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/xfsbox/xfsbox/repair/store"
	"github.com/xfsbox/xfsbox/repair/workspace"
	"github.com/xfsbox/xfsbox/xfsformat"
)

// FS is an opened XFS image: the image, its block cache, the primary
// superblock and the geometry derived from it.
type FS struct {
	Img   *store.Image
	Cache *store.Cache
	SB    *xfsformat.Superblock
	Geo   *xfsformat.Geometry

	// JournalPending is set when a read-only open finds the journal of
	// an interrupted repair: the image shows the state before it.
	JournalPending bool
	// Recovered says what a read-write open did with a journal.
	Recovered store.JournalOutcome
	// Scratch says where indexes the readers build live (the index of
	// Paths): a memfd by default, or an unnamed file in ScratchDir.
	Scratch workspace.Options

	unlock       func()
	journal      string // where a repair's journal goes
	journalLimit int64  // OpenOptions.JournalLimit

	// state orders readers of whole views against a repair's commit:
	// a view rendered under ReadLock sees the image before or after a
	// commit, never half of it.
	state sync.RWMutex
	// commitMu makes the commits of AGs rebuilt in parallel one at a
	// time (each recounts the superblock over every AG).
	commitMu sync.Mutex

	readerState // the readers of inodes, directories and file data
}

// ReadLock holds off commits until release is called.
func (fs *FS) ReadLock() (release func()) {
	fs.state.RLock()
	return fs.state.RUnlock
}

// OpenOptions tune Open.
type OpenOptions struct {
	Writable   bool
	CacheBytes int64
	// Scratch is where a metadump's index and decompressed copy go (and
	// FS.Scratch's start): a memfd by default.
	Scratch workspace.Options
	// JournalDir holds the repair journal when the image is a block
	// device (whose own directory, /dev, does not survive a reboot).
	JournalDir string
	// Sandbox opens the image read-only but locked as for writing, and
	// puts an overlay over it that takes every write (store.Overlay): the
	// named file Overlay, or an anonymous one when Overlay is empty.
	Sandbox bool
	Overlay string
	// JournalLimit bounds the commits that go through the journal; larger
	// ones go through a commit file (0: as large as a journal holds).
	// Tests lower it to exercise the commit file.
	JournalLimit int64
}

// OpenError explains why an image cannot be opened as XFS.
type OpenError struct {
	Path string
	Msg  string
	Err  error
}

func (e *OpenError) Error() string {
	if e.Err != nil {
		return e.Path + ": " + e.Msg + ": " + e.Err.Error()
	}
	return e.Path + ": " + e.Msg
}

func (e *OpenError) Unwrap() error { return e.Err }

// ErrNotXFS is wrapped by OpenError when the image holds no XFS.
var ErrNotXFS = xfsformat.ErrNotXFS

// ErrRefused is wrapped when xfsbox will not do what was asked to an
// image: open it for writing under a kernel mount here, and every
// refusal of a repair (package repair gives it under the same name).
var ErrRefused = errors.New("repair refused")

// Open opens an image and verifies its primary superblock. It refuses,
// by name, what xfsbox cannot read: empty or truncated images, other
// filesystems, v4 filesystems and unknown incompatible features.
//
// A metadump (xfs_metadump's v1 or v2 format, plain or compressed with
// gzip, zstd or xz) opens too, recognised by its magic: read-only, or
// in a sandbox with an anonymous overlay (store.OpenMetadump).
func Open(path string, opts OpenOptions) (*FS, error) {
	md, isMD, err := store.OpenMetadump(context.Background(), path, opts.Scratch)
	if isMD {
		if err != nil {
			return nil, &OpenError{Path: path, Msg: "cannot open the metadump", Err: err}
		}
		if opts.Writable && !opts.Sandbox {
			md.Close()
			return nil, &OpenError{Path: path, Msg: "cannot open a metadump for writing", Err: store.ErrMetadumpReadOnly}
		}
		if opts.Sandbox && opts.Overlay != "" {
			md.Close()
			return nil, &OpenError{Path: path, Msg: "a sandbox over a metadump keeps its overlay in memory only (no --overlay)", Err: store.ErrMetadumpReadOnly}
		}
		return OpenImage(store.NewImage(md, md.Size, path, false), opts)
	}
	if err != nil {
		return nil, &OpenError{Path: path, Msg: "cannot open image", Err: err}
	}
	img, err := store.OpenImage(path, opts.Writable && !opts.Sandbox)
	if err != nil {
		return nil, &OpenError{Path: path, Msg: "cannot open image", Err: err}
	}
	return OpenImage(img, opts)
}

// OpenImage is Open over an image already made: by store.OpenImage
// (read-write when opts.Writable and not opts.Sandbox), or by
// store.NewImage over any device, such as a store.MemDevice. It takes
// over img: closing the FS closes it, and so does a failure. An image
// that is not a file opens read-only only: writes need a lock, a journal
// beside the image and a kernel that has not mounted it
// (store.ErrNotFile).
func OpenImage(img *store.Image, opts OpenOptions) (*FS, error) {
	path := img.Path()
	var unlock func()
	var recovered store.JournalOutcome
	pending := false
	writer := opts.Writable || opts.Sandbox
	if img.Metadump() != nil && opts.Sandbox {
		// Nothing to lock or recover: the overlay is the only writer
		// (Writable or not, as mount --sandbox asks).
		writer = false
	}
	if writer && img.File() == nil {
		img.Close()
		return nil, &OpenError{Path: path, Msg: "cannot open the image for writing", Err: store.ErrNotFile}
	}
	var journal string
	var err error
	if img.File() != nil {
		journal, err = store.JournalPathFor(path, opts.JournalDir)
	}
	if err != nil && writer {
		img.Close()
		return nil, &OpenError{Path: path, Msg: "no place for the repair journal", Err: err}
	}
	if writer {
		// One writer at a time, never under a kernel mount; then finish
		// (or drop) an interrupted repair before anything reads the
		// metadata.
		if unlock, err = store.LockImage(img.File(), path); err != nil {
			img.Close()
			return nil, &OpenError{Path: path, Msg: "cannot lock the image for writing", Err: err}
		}
		if where, mounted, err := store.MountedByKernel(path); err != nil || mounted {
			unlock()
			img.Close()
			if err == nil {
				err = fmt.Errorf("%w: mounted by the kernel (%s); unmount it first", ErrRefused, where)
			}
			return nil, &OpenError{Path: path, Msg: "refusing to open for writing", Err: err}
		}
		if recovered, err = img.Recover(journal); err != nil {
			unlock()
			img.Close()
			return nil, &OpenError{Path: path, Msg: "cannot recover the repair journal", Err: err}
		}
	} else if journal != "" {
		if p, err := store.PendingJournal(journal); err == nil {
			pending = p
		}
	}
	err = nil
	if opts.Sandbox {
		if err = img.AttachOverlay(opts.Overlay); err != nil {
			err = &OpenError{Path: path, Msg: "cannot open the sandbox's overlay", Err: err}
		}
	}
	var fs *FS
	if err == nil {
		fs, err = newFS(img, opts)
	}
	if err != nil {
		if unlock != nil {
			unlock()
		}
		img.Close()
		return nil, err
	}
	fs.unlock, fs.Recovered, fs.JournalPending, fs.journal = unlock, recovered, pending, journal
	fs.journalLimit = opts.JournalLimit
	fs.Scratch = opts.Scratch
	return fs, nil
}

func newFS(img *store.Image, opts OpenOptions) (*FS, error) {
	path := img.Path()
	if img.Size() == 0 {
		return nil, &OpenError{Path: path, Msg: "image is empty (0 bytes)", Err: ErrNotXFS}
	}
	if img.Size() < xfsformat.MinSectSize {
		return nil, &OpenError{Path: path, Msg: fmt.Sprintf("image is %d bytes, too small to hold a superblock", img.Size()), Err: ErrNotXFS}
	}
	head := make([]byte, xfsformat.MinSectSize)
	if err := img.ReadAt(head, 0); err != nil {
		return nil, &OpenError{Path: path, Msg: "cannot read the superblock", Err: err}
	}
	if m := binary.BigEndian.Uint32(head); m != xfsformat.SBMagic {
		return nil, &OpenError{Path: path, Msg: fmt.Sprintf("not an XFS filesystem (no XFSB magic at byte 0; found %#08x%s)", m, otherFS(img)), Err: ErrNotXFS}
	}
	sb, err := xfsformat.DecodeSuperblock(head)
	if err != nil {
		return nil, &OpenError{Path: path, Msg: "cannot decode the superblock", Err: err}
	}
	geo, err := xfsformat.NewGeometry(sb)
	if err != nil {
		return nil, &OpenError{Path: path, Msg: "superblock refused", Err: err}
	}
	need := int64(geo.DBlocks) * int64(geo.BlockSize)
	if img.Size() < need {
		return nil, &OpenError{Path: path, Msg: fmt.Sprintf("truncated image: %d bytes, but the filesystem is %d blocks of %d bytes (%d bytes)",
			img.Size(), geo.DBlocks, geo.BlockSize, need), Err: store.ErrBeyondEnd}
	}
	fs := &FS{Img: img, Cache: store.NewCache(img, opts.CacheBytes), SB: sb, Geo: geo}
	return fs, nil
}

// otherFS names a few filesystems whose magic is easy to see, to make
// "not XFS" errors more helpful.
func otherFS(img *store.Image) string {
	b := make([]byte, 2)
	if img.ReadAt(b, 1024+56) == nil && b[0] == 0x53 && b[1] == 0xef {
		return "; this looks like an ext2/3/4 filesystem"
	}
	b = make([]byte, 8)
	if img.ReadAt(b, 65536+64) == nil && string(b) == "_BHRfS_M" {
		return "; this looks like a btrfs filesystem"
	}
	return ""
}

// Close releases the image (and its lock).
func (fs *FS) Close() error {
	if fs.unlock != nil {
		fs.unlock()
		fs.unlock = nil
	}
	fs.pathsMu.Lock()
	fs.paths.close()
	fs.paths = nil
	fs.pathsMu.Unlock()
	return fs.Img.Close()
}

// Header sector numbers within an AG.
const (
	SectorSB   = 0
	SectorAGF  = 1
	SectorAGI  = 2
	SectorAGFL = 3
)

// ErrBadAG is wrapped when an AG number is out of range.
var ErrBadAG = errors.New("no such AG")

// ValidateAG returns an error wrapping ErrBadAG when agno is not an AG of
// the filesystem.
func (fs *FS) ValidateAG(agno uint32) error {
	if agno >= fs.Geo.AGCount {
		return fmt.Errorf("AG %d: %w (the filesystem has %d)", agno, ErrBadAG, fs.Geo.AGCount)
	}
	return nil
}

// ReadSector returns header sector n of AG agno (shared; do not modify).
func (fs *FS) ReadSector(agno uint32, n int) ([]byte, error) {
	if err := fs.ValidateAG(agno); err != nil {
		return nil, err
	}
	return fs.Cache.Read(fs.Geo.SectorOffset(agno, n), int(fs.Geo.SectSize))
}

// ReadAGF reads and decodes AG agno's AGF (not verified).
func (fs *FS) ReadAGF(agno uint32) (*xfsformat.AGF, []byte, error) {
	return readHeader(fs, agno, SectorAGF, xfsformat.DecodeAGF)
}

// ReadAGI reads and decodes AG agno's AGI (not verified).
func (fs *FS) ReadAGI(agno uint32) (*xfsformat.AGI, []byte, error) {
	return readHeader(fs, agno, SectorAGI, xfsformat.DecodeAGI)
}

// ReadAGFL reads and decodes AG agno's AGFL (not verified).
func (fs *FS) ReadAGFL(agno uint32) (*xfsformat.AGFL, []byte, error) {
	if !fs.Geo.CRC {
		return readHeader(fs, agno, SectorAGFL, xfsformat.DecodeAGFLV4)
	}
	return readHeader(fs, agno, SectorAGFL, xfsformat.DecodeAGFL)
}

// ReadSB reads and decodes AG agno's superblock copy.
func (fs *FS) ReadSB(agno uint32) (*xfsformat.Superblock, []byte, error) {
	return readHeader(fs, agno, SectorSB, xfsformat.DecodeSuperblock)
}

// readHeader reads header sector n of AG agno and decodes it; the sector
// comes back too, for CRC checks and raw views.
func readHeader[T any](fs *FS, agno uint32, n int, decode func([]byte) (*T, error)) (*T, []byte, error) {
	buf, err := fs.ReadSector(agno, n)
	if err != nil {
		return nil, nil, err
	}
	h, err := decode(buf)
	return h, buf, err
}

// ErrOutsideAG is wrapped when a block number is outside its AG.
var ErrOutsideAG = errors.New("block outside the AG")

// ReadBlock returns one filesystem block of AG agno (shared; do not
// modify). Block numbers outside the AG are refused.
func (fs *FS) ReadBlock(agno, agbno uint32) ([]byte, error) {
	if err := fs.ValidateAG(agno); err != nil {
		return nil, err
	}
	if agbno >= fs.Geo.AGLength(agno) {
		return nil, fmt.Errorf("AG %d block %d: %w (AG length %d)", agno, agbno, ErrOutsideAG, fs.Geo.AGLength(agno))
	}
	return fs.Cache.Read(fs.Geo.ByteOffset(agno, agbno), int(fs.Geo.BlockSize))
}

// ReadBlockInto reads block agbno of AG agno into buf (a block long),
// past the block cache: for a reader done with each block before it
// reads the next, which would only push others out of the cache.
func (fs *FS) ReadBlockInto(agno, agbno uint32, buf []byte) error {
	if err := fs.ValidateAG(agno); err != nil {
		return err
	}
	if agbno >= fs.Geo.AGLength(agno) {
		return fmt.Errorf("AG %d block %d: %w (AG length %d)", agno, agbno, ErrOutsideAG, fs.Geo.AGLength(agno))
	}
	return fs.Img.ReadAt(buf, fs.Geo.ByteOffset(agno, agbno))
}

// BtreeRoot returns the root block and height of one of AG agno's
// btrees, as its AG header says. present is false when the filesystem
// lacks that tree (no finobt, rmapbt or reflink).
func (fs *FS) BtreeRoot(agno uint32, t xfsformat.BtreeType) (root, levels uint32, present bool, err error) {
	if t < 0 || t >= xfsformat.NumBtreeTypes {
		return 0, 0, false, fmt.Errorf("unknown btree type %d", t)
	}
	o := t.Ops()
	if !o.Present(fs.Geo) {
		return 0, 0, false, nil
	}
	if o.InAGI() {
		agi, _, err := fs.ReadAGI(agno)
		if err != nil {
			return 0, 0, true, err
		}
		root, levels = o.Root(nil, agi)
	} else {
		agf, _, err := fs.ReadAGF(agno)
		if err != nil {
			return 0, 0, true, err
		}
		root, levels = o.Root(agf, nil)
	}
	return root, levels, true, nil
}

// HasBtree reports whether the filesystem has btree type t at all.
func (fs *FS) HasBtree(t xfsformat.BtreeType) bool { return t.Ops().Present(fs.Geo) }
