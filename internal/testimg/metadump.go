package testimg

import (
	"compress/gzip"
	"encoding/binary"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"

	"github.com/xfsbox/xfsbox/xfsformat/metadump"
)

// Metadump runs xfs_metadump (with args, such as -o or -a) on image into
// a file in t.TempDir() and returns its path.
func Metadump(t testing.TB, image string, args ...string) string {
	t.Helper()
	Require(t, "xfsprogs")
	tool, err := LookTool("xfs_metadump")
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), filepath.Base(image)+strings.Join(args, "")+".md")
	cmd := exec.Command(tool, append(append([]string{}, args...), image, dst)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("xfs_metadump %v %s: %v\n%s", args, image, err, out)
	}
	return dst
}

// Mdrestore restores the metadump md with xfs_mdrestore, the judge of a
// metadump reader, into a sparse file in t.TempDir().
func Mdrestore(t testing.TB, md string) string {
	t.Helper()
	tool, err := LookTool("xfs_mdrestore")
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), filepath.Base(md)+".restored")
	if out, err := exec.Command(tool, md, dst).CombinedOutput(); err != nil {
		t.Fatalf("xfs_mdrestore %s: %v\n%s", md, err, out)
	}
	return dst
}

// MetadumpV2 rewrites the v1 metadump v1 as a v2 one (XMD2), by the
// format's definition in xfsprogs' include/xfs_metadump.h: the
// xfs_metadump here (xfsprogs 6.1) writes v1 only. Each run of v1
// blocks that continue each other on disk becomes one extent, in the
// v1 file's order, so sectors held twice keep their order.
func MetadumpV2(t testing.TB, v1 string) string {
	t.Helper()
	in, err := os.Open(v1)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		t.Fatal(err)
	}
	var exts []metadump.Extent
	info, err := metadump.Scan(in, st.Size(), func(e metadump.Extent) error {
		if n := len(exts); n > 0 {
			l := &exts[n-1]
			if l.Daddr+l.Sectors == e.Daddr && l.Offset+int64(l.Sectors)<<metadump.SectorLog == e.Offset && l.Sectors < 1<<16 {
				l.Sectors += e.Sectors
				return nil
			}
		}
		exts = append(exts, e)
		return nil
	})
	if err != nil {
		t.Fatalf("reading %s: %v", v1, err)
	}
	dst := v1 + ".v2"
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	w, err := metadump.NewV2Writer(out, info)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range exts {
		buf := make([]byte, e.Sectors<<metadump.SectorLog)
		if _, err := in.ReadAt(buf, e.Offset); err != nil {
			t.Fatal(err)
		}
		if err := w.Extent(e.Device, e.Daddr, buf); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// Compress writes path compressed with kind ("gzip", "zstd" or "xz")
// beside it and returns the new file's path, made by the Go libraries
// xfsbox reads them with (the command-line tools may be missing here).
func Compress(t testing.TB, path, kind string) string {
	t.Helper()
	in, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	dst := path + "." + map[string]string{"gzip": "gz", "zstd": "zst", "xz": "xz"}[kind]
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	var w io.WriteCloser
	switch kind {
	case "gzip":
		w = gzip.NewWriter(out)
	case "zstd":
		w, err = zstd.NewWriter(out)
	case "xz":
		w, err = xz.NewWriter(out)
	default:
		t.Fatalf("testimg.Compress: unknown kind %q", kind)
	}
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(w, in); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return dst
}

// MetadumpBlock is one 512-byte block of a synthetic v1 metadump: the
// sector it restores to and its bytes.
type MetadumpBlock struct {
	Daddr uint64
	Data  []byte // metadump.SectorSize bytes
}

// SynthMetadumpV1 lays blocks out, in order, as xfs_metadump's v1 format
// (include/xfs_metadump.h; db/metadump.c's write_index): metablocks of
// 512 bytes (magic "XFSM", a count, blocklog 9, the info flags byte, an
// index of up to 63 sector addresses), each followed by its count
// blocks; and, as xfs_metadump always ends one, a last metablock of
// fewer than 63 blocks (of none, when the blocks fill the one before).
// info is the mb_info byte: 1 says the flags are set, 2 obfuscated, 4
// full blocks, 8 dirty log.
func SynthMetadumpV1(info byte, blocks []MetadumpBlock) []byte {
	const perMeta = (metadump.SectorSize - 8) / 8
	var out []byte
	for i := 0; ; i += perMeta {
		chunk := blocks[min(i, len(blocks)):min(i+perMeta, len(blocks))]
		head := make([]byte, metadump.SectorSize)
		binary.BigEndian.PutUint32(head, metadump.MagicV1)
		binary.BigEndian.PutUint16(head[4:], uint16(len(chunk)))
		head[6], head[7] = metadump.SectorLog, info
		for j, b := range chunk {
			binary.BigEndian.PutUint64(head[8+8*j:], b.Daddr)
		}
		out = append(out, head...)
		for _, b := range chunk {
			out = append(out, b.Data...)
		}
		if len(chunk) < perMeta {
			return out
		}
	}
}

// SmallMetadump runs xfs_metadump (with args) on testdata's small image
// (SmallImage, written to a file in t.TempDir()) and returns the
// metadump's path: a real metadump of every v5 feature in a few
// hundred KiB, without root or a cached image.
func SmallMetadump(t testing.TB, args ...string) string {
	t.Helper()
	Require(t, "xfsprogs")
	img := filepath.Join(t.TempDir(), "small.img")
	if err := os.WriteFile(img, SmallImage(t), 0o644); err != nil {
		t.Fatal(err)
	}
	return Metadump(t, img, args...)
}
