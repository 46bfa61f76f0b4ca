package forensics

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/xfsbox/xfsbox/repair/fsys"
)

// A deleted file's recovered bytes: its size (the logged one, or up to
// the end of its last extent when the size is unknown), with the bytes
// of intact extents read from the image, unwritten extents and holes
// as zeros (they read as zeros on the live file too), the bytes of
// extents of unknown history read from the image but listed as
// unverified, and reused extents left as zeros and listed as gaps.

// Recoverable reports whether f has content to recover: a regular file
// whose extent map, or an empty size, is known.
func Recoverable(f *DeletedFile) bool {
	return f.Kind == "regular" && (len(f.Extents) > 0 || f.Size != nil && *f.Size == 0)
}

// Length is the number of bytes f's recovery holds: its size, or when
// that is unknown, up to the end of its last extent.
func (ex *Examination) Length(f *DeletedFile) int64 {
	if f.Size != nil {
		return int64(*f.Size)
	}
	end := int64(0)
	for _, e := range f.Extents {
		end = max(end, int64(e.FileOffset+uint64(e.Blocks))*int64(ex.fs.Geo.BlockSize))
	}
	return end
}

// Reader reads f's recovered bytes at any offset.
func (ex *Examination) Reader(f *DeletedFile) *io.SectionReader {
	exts := append([]ExtentClaim(nil), f.Extents...)
	sort.Slice(exts, func(i, j int) bool { return exts[i].FileOffset < exts[j].FileOffset })
	return io.NewSectionReader(&deletedReader{fs: ex.fs, exts: exts, size: ex.Length(f)}, 0, ex.Length(f))
}

type deletedReader struct {
	fs   *fsys.FS
	exts []ExtentClaim
	size int64
}

func (r *deletedReader) ReadAt(p []byte, off int64) (int, error) {
	if off >= r.size {
		return 0, io.EOF
	}
	want := p[:min(int64(len(p)), r.size-off)]
	clear(want)
	bs := int64(r.fs.Geo.BlockSize)
	for _, e := range r.exts {
		from, to := max(int64(e.FileOffset)*bs, off), min(int64(e.FileOffset+uint64(e.Blocks))*bs, off+int64(len(want)))
		if from >= to || e.Unwritten || e.Verdict == Reused || e.Verdict == "" {
			continue
		}
		agno, agbno := r.fs.Geo.SplitFSB(e.StartBlock)
		at := r.fs.Geo.ByteOffset(agno, agbno) + from - int64(e.FileOffset)*bs
		if err := r.fs.Img.ReadAt(want[from-off:to-off], at); err != nil {
			return 0, fmt.Errorf("reading the deleted file's blocks at byte %d: %w", at, err)
		}
	}
	if off+int64(len(want)) >= r.size {
		return len(want), io.EOF
	}
	return len(want), nil
}

// ranges lists f's byte ranges whose extents have verdict v, as
// "OFFSET+LEN", clipped to the recovered length.
func (ex *Examination) ranges(f *DeletedFile, v Verdict) []string {
	var out []string
	bs, n := uint64(ex.fs.Geo.BlockSize), uint64(ex.Length(f))
	for _, e := range f.Extents {
		from, to := e.FileOffset*bs, min((e.FileOffset+uint64(e.Blocks))*bs, n)
		if e.Verdict == v && !e.Unwritten && from < to {
			out = append(out, strconv.FormatUint(from, 10)+"+"+strconv.FormatUint(to-from, 10))
		}
	}
	return out
}

// Placed is where a deleted file's recovered bytes go, relative to the
// recovery's root: files/PATH, or by-inode/INO when no name survived
// (PATH.ino-INO when another deleted file has the same path).
type Placed struct {
	Rel  string
	File *DeletedFile
}

// Layout places every recoverable file, in the manifest's order.
func (ex *Examination) Layout() []Placed {
	var out []Placed
	taken := map[string]bool{}
	for i := range ex.Manifest.Files {
		f := &ex.Manifest.Files[i]
		if !Recoverable(f) {
			continue
		}
		rel := path.Join("by-inode", strconv.FormatUint(f.Ino, 10))
		if f.Path != "" {
			rel = path.Join("files", strings.TrimPrefix(path.Clean("/"+f.Path), "/"))
		}
		if taken[rel] {
			rel += ".ino-" + strconv.FormatUint(f.Ino, 10)
		}
		taken[rel] = true
		out = append(out, Placed{Rel: rel, File: f})
	}
	return out
}

// Recovered hashes a placed file's bytes (reading them whole) and says
// what they rest on, without writing them anywhere: what a manifest
// records for a file served rather than written.
func (ex *Examination) Recovered(ctx context.Context, p Placed) (*RecoveredFile, error) {
	h := sha256.New()
	n, err := io.Copy(h, fsys.Stoppable(ctx, ex.Reader(p.File)))
	if err != nil {
		return nil, fmt.Errorf("reading deleted inode %d: %w", p.File.Ino, err)
	}
	return ex.recovered(p, n, h.Sum(nil)), nil
}

func (ex *Examination) recovered(p Placed, n int64, sum []byte) *RecoveredFile {
	rf := &RecoveredFile{File: p.Rel, Bytes: uint64(n), SHA256: hex.EncodeToString(sum)}
	rf.Gaps = ex.ranges(p.File, Reused)
	rf.Unverified = ex.ranges(p.File, Unknown)
	rf.Complete = p.File.Size != nil && len(rf.Gaps) == 0 && len(rf.Unverified) == 0
	return rf
}

// Recover writes every recoverable deleted file under outDir (which
// must not exist, or be empty) as Layout places it, and records in each
// file's Recovery what was written; WriteManifest then writes
// manifest.json beside them. It never writes to the image.
func (ex *Examination) Recover(ctx context.Context, outDir string) error {
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return err
	}
	if ents, err := os.ReadDir(outDir); err != nil {
		return err
	} else if len(ents) > 0 {
		return fmt.Errorf("%s is not empty: recovery writes only into an empty directory", outDir)
	}
	for _, p := range ex.Layout() {
		if err := ctx.Err(); err != nil {
			return err
		}
		rf, err := ex.writeOne(ctx, outDir, p)
		if err != nil {
			if ctx.Err() != nil {
				return err
			}
			// One file that cannot be written (a name clash with a
			// recovered directory, say) does not stop the others.
			p.File.Notes = append(p.File.Notes, "not recovered: "+err.Error())
			continue
		}
		p.File.Recovery = rf
	}
	return nil
}

// WriteManifest writes the manifest to outDir/manifest.json.
func (ex *Examination) WriteManifest(outDir string) error {
	b, err := json.MarshalIndent(&ex.Manifest, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(outDir, "manifest.json"), append(b, '\n'), 0o644)
}

// writeOne writes p's bytes under outDir.
func (ex *Examination) writeOne(ctx context.Context, outDir string, p Placed) (*RecoveredFile, error) {
	dst := filepath.Join(outDir, filepath.FromSlash(p.Rel))
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return nil, err
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(out, h), fsys.Stoppable(ctx, ex.Reader(p.File)))
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("recovering inode %d into %s: %w", p.File.Ino, dst, err)
	}
	return ex.recovered(p, n, h.Sum(nil)), nil
}
