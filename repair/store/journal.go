package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/xfsbox/xfsbox/xfsformat"
)

// The redo journal makes a repair's final writes (AG headers, superblock)
// atomic: they are first written, whole, to a journal file beside the
// image and made durable; only then is the image written. A crash before
// the journal is complete leaves the image untouched and the journal is
// dropped on the next read-write open; a crash after leaves a complete
// journal that the next open replays (replaying twice is harmless: each
// entry is "these bytes at this offset").
//
// Journal format (integers big-endian, CRCs are CRC32c):
//
//	off  len  field
//	0    8    magic "XFSBOXJL"
//	8    4    version (1)
//	12   4    number of entries N
//	16   8    image size in bytes          } which image the journal is for:
//	24   16   superblock uuid (bytes 32-47) } refused when they differ
//	40        N entries, each:
//	            8  image byte offset
//	            4  length L, 1 to 1 MiB
//	            4  CRC of the entry's offset, length and data
//	            L  data
//	end-12 8  total file length, this trailer included
//	end-4  4  CRC of every byte before it
//
// The journal is complete only when every length and CRC checks and the
// trailer's length equals the file's: a torn or zero-filled tail fails.
// Reading bounds the file at MaxJournalBytes before allocating.

// Write is one pending write to the image.
type Write struct {
	Off  int64
	Data []byte
}

// Writer is the image as the engine writes it; tests inject faults
// through it.
type Writer interface {
	WriteAt(p []byte, off int64) error
	Sync() error
}

// ImageReader is what the journal reads of an image to identify it;
// *Image satisfies it.
type ImageReader interface {
	ReadAt(p []byte, off int64) error
	Size() int64
}

// The image itself is both what the journal writes and what it reads.
var _ interface {
	Writer
	ImageReader
} = (*Image)(nil)

// ImageIdentifier is implemented by Writers that can say which image
// they write (CommitJournal records it in the journal).
type ImageIdentifier interface {
	ImageID() (ImageID, error)
}

// FaultHook is called before every durable step of a commit or replay:
// "journal-write", "journal-sync", "dir-sync", "image-write #I" (I from
// 0), "image-sync", "journal-remove", "remove-dir-sync". An error aborts
// right there, as a crash would: nothing is cleaned up.
type FaultHook func(step string) error

// ImageID is the identity a journal records: the image's size and its
// superblock's uuid. Neither changes in a repair, unlike the bytes the
// journal rewrites.
type ImageID struct {
	Size int64
	UUID xfsformat.UUID
}

func (id ImageID) String() string { return fmt.Sprintf("%d bytes, uuid %s", id.Size, id.UUID) }

// IdentifyImage reads an image's identity.
func IdentifyImage(img ImageReader) (ImageID, error) {
	id := ImageID{Size: img.Size()}
	if err := img.ReadAt(id.UUID[:], 32); err != nil {
		return id, fmt.Errorf("reading the superblock uuid: %w", err)
	}
	return id, nil
}

// JournalSuffix is appended to the image's path to name its journal.
const JournalSuffix = ".xfsbox-journal"

// Journal size bounds: what CommitJournal writes and RecoverJournal reads.
const (
	MaxJournalBytes = 64 << 20
	MaxJournalEntry = 1 << 20
)

// The journal's layout (the overlay's, in overlay.go, is another format
// with constants of the same shape).
const (
	journalMagic   = "XFSBOXJL"
	journalVersion = 1
	journalHdrLen  = 40
	journalEntHdr  = 16
	journalTrailer = 12
)

// Errors of the journal.
var (
	ErrJournalPending = errors.New("a journal from an earlier repair is pending")
	ErrJournalForeign = errors.New("the journal belongs to another image")
	ErrJournalTooBig  = errors.New("writes exceed the journal's bounds")
)

// JournalPath is where the journal of an image lives: beside it.
func JournalPath(image string) string { return image + JournalSuffix }

// JournalPathFor is JournalPath, or the journal in dir when dir is not
// empty. A block device needs dir: /dev is not durable storage.
func JournalPathFor(image, dir string) (string, error) {
	if dir != "" {
		return filepath.Join(dir, filepath.Base(image)+JournalSuffix), nil
	}
	st, err := os.Stat(image)
	if err != nil {
		return "", err
	}
	if st.Mode()&os.ModeDevice != 0 {
		return "", fmt.Errorf("%s is a block device: its repair journal needs a directory on another filesystem", image)
	}
	return JournalPath(image), nil
}

// PendingJournal reports whether a journal exists at journalPath.
// Read-only opens warn about it and leave it alone.
func PendingJournal(journalPath string) (bool, error) {
	_, err := os.Lstat(journalPath)
	if err == nil {
		return true, nil
	}
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	return false, err
}

// CommitJournal makes writes durable crash-safely: the journal is written
// and fsynced (file and directory), the writes applied to w, w synced,
// the journal removed and the directory fsynced. The image is identified
// by w when it implements ImageIdentifier, else by the file journalPath
// names without JournalSuffix.
//
// If an error comes after the journal became durable, the journal stays:
// the next read-write open replays it. The caller's view of the image is
// then stale either way.
func CommitJournal(journalPath string, w Writer, writes []Write, fault FaultHook) error {
	if len(writes) == 0 {
		return nil
	}
	id, err := commitIdentity(journalPath, w)
	if err != nil {
		return fmt.Errorf("journal %s: %w", journalPath, err)
	}
	buf, err := encodeJournal(id, writes)
	if err != nil {
		return fmt.Errorf("journal %s: %w", journalPath, err)
	}
	step := faultSteps("journal "+journalPath, fault)

	if err := step("journal-write"); err != nil {
		return err
	}
	// O_EXCL: a journal already there is an unreplayed commit; writing
	// over it would lose it.
	f, err := os.OpenFile(journalPath, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return fmt.Errorf("journal %s: %w (open the image read-write to replay or drop it)", journalPath, ErrJournalPending)
	}
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	if _, err := f.Write(buf); err != nil {
		f.Close()
		return fmt.Errorf("journal: %w", err)
	}
	if err := step("journal-sync"); err != nil {
		f.Close()
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	if err := step("dir-sync"); err != nil {
		return err
	}
	if err := syncDir(filepath.Dir(journalPath)); err != nil {
		return fmt.Errorf("journal %s: %w", journalPath, err)
	}
	return applyJournal(journalPath, w, writes, step)
}

// faultSteps calls fault (if any) before each durable step of what,
// saying where an injected failure stopped it.
func faultSteps(what string, fault FaultHook) func(string) error {
	return func(name string) error {
		if fault == nil {
			return nil
		}
		if err := fault(name); err != nil {
			return fmt.Errorf("%s: %s: %w", what, name, err)
		}
		return nil
	}
}

// applyJournal is the redo half shared by commit and replay.
func applyJournal(journalPath string, w Writer, writes []Write, step func(string) error) error {
	pending := func(err error) error {
		return fmt.Errorf("%w (the journal %s stays, to be replayed on the next read-write open)", err, journalPath)
	}
	for i, wr := range writes {
		if err := step(fmt.Sprintf("image-write #%d", i)); err != nil {
			return pending(err)
		}
		if err := w.WriteAt(wr.Data, wr.Off); err != nil {
			return pending(err)
		}
	}
	if err := step("image-sync"); err != nil {
		return pending(err)
	}
	if err := w.Sync(); err != nil {
		return pending(err)
	}
	return removeJournal(journalPath, step)
}

func removeJournal(journalPath string, step func(string) error) error {
	if err := step("journal-remove"); err != nil {
		return err
	}
	if err := os.Remove(journalPath); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("journal: %w", err)
	}
	if err := step("remove-dir-sync"); err != nil {
		return err
	}
	if err := syncDir(filepath.Dir(journalPath)); err != nil {
		return fmt.Errorf("journal %s: %w", journalPath, err)
	}
	return nil
}

func commitIdentity(journalPath string, w Writer) (ImageID, error) {
	if ii, ok := w.(ImageIdentifier); ok {
		return ii.ImageID()
	}
	image, ok := strings.CutSuffix(journalPath, JournalSuffix)
	if !ok {
		return ImageID{}, errors.New("cannot tell which image the journal is for: the writer does not say (ImageIdentifier) and the journal is not beside the image")
	}
	img, err := OpenImage(image, false)
	if err != nil {
		return ImageID{}, fmt.Errorf("identifying the image: %w", err)
	}
	defer img.Close()
	return IdentifyImage(img)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

func encodeJournal(id ImageID, writes []Write) ([]byte, error) {
	total := journalHdrLen + journalTrailer
	for i, wr := range writes {
		if len(wr.Data) == 0 || len(wr.Data) > MaxJournalEntry {
			return nil, fmt.Errorf("%w: write #%d is %d bytes (1 to %d allowed)", ErrJournalTooBig, i, len(wr.Data), MaxJournalEntry)
		}
		if wr.Off < 0 || wr.Off > id.Size-int64(len(wr.Data)) {
			return nil, fmt.Errorf("write #%d at byte %d (+%d) is outside the image (%d bytes)", i, wr.Off, len(wr.Data), id.Size)
		}
		total += journalEntHdr + len(wr.Data)
		if total > MaxJournalBytes {
			return nil, fmt.Errorf("%w: more than %d bytes", ErrJournalTooBig, MaxJournalBytes)
		}
	}
	be := binary.BigEndian
	buf := make([]byte, 0, total)
	buf = append(buf, journalMagic...)
	buf = be.AppendUint32(buf, journalVersion)
	buf = be.AppendUint32(buf, uint32(len(writes)))
	buf = be.AppendUint64(buf, uint64(id.Size))
	buf = append(buf, id.UUID[:]...)
	for _, wr := range writes {
		start := len(buf)
		buf = be.AppendUint64(buf, uint64(wr.Off))
		buf = be.AppendUint32(buf, uint32(len(wr.Data)))
		c := crc32.Update(0, xfsformat.Castagnoli, buf[start:])
		c = crc32.Update(c, xfsformat.Castagnoli, wr.Data)
		buf = be.AppendUint32(buf, c)
		buf = append(buf, wr.Data...)
	}
	buf = be.AppendUint64(buf, uint64(total))
	buf = be.AppendUint32(buf, crc32.Checksum(buf, xfsformat.Castagnoli))
	return buf, nil
}

// decodeJournal returns the journal's identity and writes, or why it is
// not a complete journal.
func decodeJournal(buf []byte) (ImageID, []Write, error) {
	var id ImageID
	be := binary.BigEndian
	n := len(buf)
	if n < journalHdrLen+journalTrailer {
		return id, nil, fmt.Errorf("%d bytes, shorter than an empty journal", n)
	}
	if crc32.Checksum(buf[:n-4], xfsformat.Castagnoli) != be.Uint32(buf[n-4:]) {
		return id, nil, errors.New("the trailing CRC does not match (incomplete write)")
	}
	if l := be.Uint64(buf[n-12:]); l != uint64(n) {
		return id, nil, fmt.Errorf("the trailer says %d bytes, the file has %d", l, n)
	}
	if !bytes.Equal(buf[:8], []byte(journalMagic)) {
		return id, nil, errors.New("no journal magic")
	}
	if v := be.Uint32(buf[8:]); v != journalVersion {
		return id, nil, fmt.Errorf("unknown journal version %d", v)
	}
	count := be.Uint32(buf[12:])
	id.Size = int64(be.Uint64(buf[16:]))
	copy(id.UUID[:], buf[24:40])
	body := buf[journalHdrLen : n-journalTrailer]
	if uint64(count) > uint64(len(body)/journalEntHdr) {
		return id, nil, fmt.Errorf("%d entries cannot fit in %d bytes", count, len(body))
	}
	writes := make([]Write, 0, count)
	for i := uint32(0); i < count; i++ {
		if len(body) < journalEntHdr {
			return id, nil, fmt.Errorf("entry %d is cut short", i)
		}
		off, l := be.Uint64(body), be.Uint32(body[8:])
		if l == 0 || l > MaxJournalEntry || int(l) > len(body)-journalEntHdr {
			return id, nil, fmt.Errorf("entry %d has a bad length %d", i, l)
		}
		c := crc32.Update(0, xfsformat.Castagnoli, body[:12])
		c = crc32.Update(c, xfsformat.Castagnoli, body[journalEntHdr:journalEntHdr+l])
		if c != be.Uint32(body[12:]) {
			return id, nil, fmt.Errorf("entry %d: bad CRC", i)
		}
		if off > uint64(id.Size) || uint64(l) > uint64(id.Size)-off {
			return id, nil, fmt.Errorf("entry %d at byte %d (+%d) is outside the image it names (%d bytes)", i, off, l, id.Size)
		}
		writes = append(writes, Write{Off: int64(off), Data: body[journalEntHdr : journalEntHdr+l]})
		body = body[journalEntHdr+l:]
	}
	if len(body) != 0 {
		return id, nil, fmt.Errorf("%d stray bytes after the last entry", len(body))
	}
	return id, writes, nil
}

// JournalAction is what RecoverJournal did.
type JournalAction int

const (
	JournalNone     JournalAction = iota // no journal
	JournalReplayed                      // complete: replayed, then removed
	JournalDropped                       // incomplete or corrupt: removed, the image untouched
)

// JournalOutcome says what RecoverJournal did, for the log.
type JournalOutcome struct {
	Action JournalAction
	Writes int    // writes replayed
	Reason string // why a journal was dropped
}

func (o JournalOutcome) String() string {
	switch o.Action {
	case JournalReplayed:
		return fmt.Sprintf("journal replayed (%d writes)", o.Writes)
	case JournalDropped:
		return "incomplete journal dropped, image untouched: " + o.Reason
	}
	return "no journal"
}

// RecoverJournal is called when opening an image read-write, before
// anything reads its metadata (or with the caches dropped after). A
// complete journal for this image is replayed through w and removed; an
// incomplete or corrupt one is removed (its commit never began to touch
// the image). A complete journal naming another image (size or uuid) is
// refused with ErrJournalForeign and left in place. fault may be nil.
func RecoverJournal(journalPath string, w Writer, img ImageReader, fault FaultHook) (JournalOutcome, error) {
	var out JournalOutcome
	step := faultSteps("journal "+journalPath, fault)
	buf, err := readJournal(journalPath)
	if errors.Is(err, os.ErrNotExist) {
		return out, nil
	}
	var jid ImageID
	var writes []Write
	switch {
	case errors.Is(err, errJournalHuge):
	case err != nil:
		return out, fmt.Errorf("journal %s: %w", journalPath, err)
	default:
		jid, writes, err = decodeJournal(buf)
	}
	if err != nil {
		out = JournalOutcome{Action: JournalDropped, Reason: err.Error()}
		return out, removeJournal(journalPath, step)
	}
	id, err := IdentifyImage(img)
	if err != nil {
		return out, fmt.Errorf("journal %s: %w", journalPath, err)
	}
	if id != jid {
		return out, fmt.Errorf("journal %s: %w: it is for an image of %s, this one is %s; left in place (move it beside its image, or remove it)",
			journalPath, ErrJournalForeign, jid, id)
	}
	if err := applyJournal(journalPath, w, writes, step); err != nil {
		return out, err
	}
	return JournalOutcome{Action: JournalReplayed, Writes: len(writes)}, nil
}

var errJournalHuge = fmt.Errorf("larger than any journal xfsbox writes (%d bytes)", MaxJournalBytes)

// readJournal reads the whole journal, refusing one larger than
// MaxJournalBytes before allocating.
func readJournal(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("not a regular file (%s)", st.Mode().Type())
	}
	if st.Size() > MaxJournalBytes {
		return nil, errJournalHuge
	}
	buf := make([]byte, st.Size())
	if _, err := io.ReadFull(f, buf); err != nil {
		return nil, err
	}
	return buf, nil
}
