package store

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
	"golang.org/x/sys/unix"

	"github.com/xfsbox/xfsbox/repair/workspace"
	"github.com/xfsbox/xfsbox/xfsformat/metadump"
)

// compression is a compressed stream's format, recognised by its magic
// (never by the file's name).
type compression struct {
	name  string
	magic []byte
	open  func(io.Reader) (io.Reader, func(), error)
}

// Compressions are the compressed metadumps xfsbox opens: gzip (Go's
// compress/gzip), zstd (github.com/klauspost/compress/zstd) and xz
// (github.com/ulikunitz/xz).
var compressions = []compression{
	{"gzip", []byte{0x1f, 0x8b}, func(r io.Reader) (io.Reader, func(), error) {
		z, err := gzip.NewReader(r)
		if err != nil {
			return nil, nil, err
		}
		return z, func() { z.Close() }, nil
	}},
	{"zstd", []byte{0x28, 0xb5, 0x2f, 0xfd}, func(r io.Reader) (io.Reader, func(), error) {
		z, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, nil, err
		}
		return z, z.Close, nil
	}},
	{"xz", []byte{0xfd, '7', 'z', 'X', 'Z', 0}, func(r io.Reader) (io.Reader, func(), error) {
		z, err := xz.NewReader(r)
		if err != nil {
			return nil, nil, err
		}
		return z, func() {}, nil
	}},
}

// SniffImage says what the file at path holds by its first bytes: a
// metadump (its version), a compressed stream (the compression's name),
// or neither (plain: an image or anything else).
func SniffImage(path string) (version int, compressed string, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, "", err
	}
	defer f.Close()
	head := make([]byte, 8)
	n, _ := io.ReadFull(f, head)
	head = head[:n]
	if v, ok := metadump.Sniff(head); ok {
		return v, "", nil
	}
	for _, c := range compressions {
		if bytes.HasPrefix(head, c.magic) {
			return 0, c.name, nil
		}
	}
	return 0, "", nil
}

// ErrCompressedNotMetadump refuses a compressed file that does not hold a
// metadump: xfsbox decompresses metadumps only (a compressed image would
// have to be decompressed whole to be read at all).
var ErrCompressedNotMetadump = errors.New("compressed, but not a metadump (xfsbox opens compressed metadumps only; decompress an image first)")

// OpenMetadump opens path as a metadump when it is one: v1 or v2, plain
// or compressed with gzip, zstd or xz. A compressed one is decompressed
// once, as it is read, into an unnamed file where the workspace would
// be (memory, or --scratch-dir): nothing is left behind to clean up. ok
// is false, with nothing opened, for a file that is neither a metadump
// nor compressed.
func OpenMetadump(ctx context.Context, path string, scratch workspace.Options) (md *Metadump, ok bool, err error) {
	version, comp, err := SniffImage(path)
	if err != nil {
		return nil, false, err
	}
	if version == 0 && comp == "" {
		return nil, false, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, true, err
	}
	source := path
	if comp != "" {
		plain, err := decompress(ctx, f, comp, scratch)
		f.Close()
		if err != nil {
			return nil, true, fmt.Errorf("%s: %w", path, err)
		}
		f = plain
		source = fmt.Sprintf("%s (%s)", path, comp)
		head := make([]byte, 4)
		if _, err := f.ReadAt(head, 0); err != nil {
			f.Close()
			return nil, true, fmt.Errorf("%s: %w", source, ErrCompressedNotMetadump)
		}
		if _, ok := metadump.Sniff(head); !ok {
			f.Close()
			return nil, true, fmt.Errorf("%s: %w", source, ErrCompressedNotMetadump)
		}
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, true, err
	}
	md, err = BuildMetadump(ctx, f, st.Size(), source, scratch)
	if err != nil {
		f.Close()
		return nil, true, err
	}
	return md, true, nil
}

// decompress streams f, compressed with comp, into an unnamed file and
// returns it. It stops at the first 4 bytes if they are not a
// metadump's, so that a large compressed image is refused at once.
func decompress(ctx context.Context, f *os.File, comp string, scratch workspace.Options) (*os.File, error) {
	var c compression
	for _, k := range compressions {
		if k.name == comp {
			c = k
		}
	}
	z, done, err := c.open(f)
	if err != nil {
		return nil, fmt.Errorf("%s stream: %w", comp, err)
	}
	defer done()
	head := make([]byte, 4)
	if n, err := io.ReadFull(z, head); err != nil {
		// io.EOF: nothing at all; io.ErrUnexpectedEOF: fewer bytes than
		// a magic (or a stream cut that soon); else the stream is bad.
		switch {
		case n == 0 && errors.Is(err, io.EOF):
			return nil, fmt.Errorf("the %s stream is empty: %w", comp, ErrCompressedNotMetadump)
		case errors.Is(err, io.ErrUnexpectedEOF):
			return nil, fmt.Errorf("the %s stream ends after %d bytes: %w", comp, n, ErrCompressedNotMetadump)
		}
		return nil, fmt.Errorf("%s stream: %w", comp, err)
	}
	if _, ok := metadump.Sniff(head); !ok {
		return nil, ErrCompressedNotMetadump
	}
	out, err := workspace.TempFile(scratch, "xfsbox-metadump")
	if err != nil {
		return nil, err
	}
	if _, err := out.Write(head); err != nil {
		out.Close()
		return nil, err
	}
	if _, err := io.Copy(out, ctxReader{ctx, z}); err != nil {
		out.Close()
		if errors.Is(err, unix.ENOSPC) {
			return nil, fmt.Errorf("decompressing (%s): %w (decompress into --scratch-dir DIR on a disk with room)", comp, err)
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("decompressing (%s): the compressed stream is cut short: %w", comp, err)
		}
		return nil, fmt.Errorf("decompressing (%s): %w", comp, err)
	}
	return out, nil
}

// Stoppable is r whose reads fail once ctx is done: a long copy (a
// decompression, a file of a damaged size) stops when its command is
// interrupted.
func Stoppable(ctx context.Context, r io.Reader) io.Reader { return ctxReader{ctx, r} }

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
