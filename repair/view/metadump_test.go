package view_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xfsbox/xfsbox/internal/testimg"
	"github.com/xfsbox/xfsbox/repair/fsys"
	"github.com/xfsbox/xfsbox/repair/store"
	"github.com/xfsbox/xfsbox/repair/view"
	"github.com/xfsbox/xfsbox/xfsformat"
	"github.com/xfsbox/xfsbox/xfsformat/dir"
)

// TestMetadumpMatchesMdrestore is the metadump issue's judge: for
// metadumps xfs_metadump made of the all-features and mkfs-defaults
// images (and, with -o only, of the v4 image) (names kept with -o, obfuscated, stale bytes kept with -a;
// v2 and compressed copies of the -o one), every view xfsbox renders of
// the metadump (the whole tree but a sample of inodes/, the health view
// being the check's whole result) equals the view of the image
// xfs_mdrestore restores from it, byte for byte; a view that reads
// only what the metadump lacks fails with ErrNotInMetadump instead. The
// tree under the root (files/'s layer) has the same names, inode
// numbers, file types and inode fields; reading a file's contents from
// the metadump fails by name. A v2 metadump is judged against the
// restore of the v1 it was written from: xfs_mdrestore 6.1 reads v1
// only.
func TestMetadumpMatchesMdrestore(t *testing.T) {
	testimg.Require(t, "xfsprogs")
	for _, prof := range []string{"allfeatures", "defaults", "v4"} {
		t.Run(prof, func(t *testing.T) {
			img := testimg.Image(t, prof)
			plain := testimg.Metadump(t, img, "-o")
			restored := testimg.Mdrestore(t, plain)
			variants := []struct {
				name, md, restored string
				obfuscated         bool
				whole              bool // every view, not just the headers' and the check's
			}{
				{"v1 -o", plain, restored, false, true},
				{"v1 obfuscated", "", "", true, true},
				{"v1 -a", "", "", false, false},
				{"v2", testimg.MetadumpV2(t, plain), restored, false, false},
				{"gzip", testimg.Compress(t, plain, "gzip"), restored, false, false},
				{"zstd", testimg.Compress(t, plain, "zstd"), restored, false, false},
				{"xz", testimg.Compress(t, plain, "xz"), restored, false, false},
			}
			if prof == "v4" {
				variants = variants[:1] // a v4 metadump: the -o one, whole
			}
			for _, v := range variants {
				t.Run(v.name, func(t *testing.T) {
					switch v.name {
					case "v1 obfuscated":
						v.md = testimg.Metadump(t, img)
						v.restored = testimg.Mdrestore(t, v.md)
					case "v1 -a":
						v.md = testimg.Metadump(t, img, "-o", "-a")
						v.restored = testimg.Mdrestore(t, v.md)
					}
					compareMetadump(t, v.md, v.restored, v.obfuscated, v.whole)
				})
			}
		})
	}
}

func openRO(t *testing.T, p string) *fsys.FS {
	t.Helper()
	fs, err := fsys.Open(p, fsys.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fs.Close() })
	return fs
}

// compareMetadump judges the metadump md against rest, xfs_mdrestore's
// restore of it.
func compareMetadump(t *testing.T, md, rest string, obfuscated, whole bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	mfs, rfs := openRO(t, md), openRO(t, rest)
	m := mfs.Img.Metadump()
	if m == nil {
		t.Fatalf("%s: not opened as a metadump", md)
	}
	if m.Info.Obfuscated != obfuscated {
		t.Errorf("%s: obfuscated %v, want %v (%s)", md, m.Info.Obfuscated, obfuscated, m.Info)
	}
	mt, rt := view.NewTree(mfs), view.NewTree(rfs)
	st := &mdStats{}
	roots := []string{"README", "geometry", "geometry.json", "health", "health.json", "sb", "sb.json", "sb.raw", "ag", "journal"}
	if !whole {
		roots = []string{"geometry", "health.json", "sb.raw", "ag/0/agf.raw", "ag/0/agi.raw", "ag/1/agfl.raw", "journal/summary"}
	}
	for _, p := range roots {
		walkCompare(ctx, t, mt, rt, p, st)
	}
	if whole {
		// inodes/: the listing whole, the views of a sample.
		ml, err := mt.List(ctx, "inodes")
		if err != nil {
			t.Fatal(err)
		}
		rl, err := rt.List(ctx, "inodes")
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(ml) != fmt.Sprint(rl) {
			t.Errorf("inodes/: %d entries in the metadump, %d in the restored image", len(ml), len(rl))
		}
		step := max(1, len(ml)/60)
		for i := 0; i < len(ml); i += step {
			walkCompare(ctx, t, mt, rt, "inodes/"+ml[i].Name, st)
		}
	}
	files := compareTree(ctx, t, mfs, rfs)
	t.Logf("%s: %d views equal, %d absent from the metadump (read as zeros in the restored image); %d inodes of the tree equal, %d files whose contents are absent; %s, %d sectors held in %d runs",
		path.Base(md), st.equal, st.absent, files.inodes, files.absent, m.Info, m.Sectors, m.Runs)
	if st.equal == 0 || files.inodes == 0 {
		t.Fatal("nothing compared")
	}
}

type mdStats struct{ equal, absent int }

// metadumpOnly are the geometry lines only a metadump has, or that name
// the file.
var metadumpOnly = []string{"image", "metadump", "contents", "names"}

func stripGeometry(b []byte) []byte {
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		k, _, _ := strings.Cut(l, " =")
		if !slices.Contains(metadumpOnly, k) {
			out = append(out, l)
		}
	}
	return []byte(strings.Join(out, "\n"))
}

func stripGeometryJSON(t *testing.T, b []byte) []byte {
	var v struct {
		Schema        string         `json:"schema"`
		SchemaVersion int            `json:"schema_version"`
		Fields        map[string]any `json:"fields"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("geometry.json: %v", err)
	}
	for _, k := range metadumpOnly {
		delete(v.Fields, k)
	}
	out, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func renderView(ctx context.Context, tr *view.Tree, p string) ([]byte, error) {
	f, err := tr.Open(ctx, p)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	err = f.Render(ctx, &b)
	return b.Bytes(), err
}

func walkCompare(ctx context.Context, t *testing.T, mt, rt *view.Tree, p string, st *mdStats) {
	t.Helper()
	isDir, err := rt.Stat(ctx, p)
	if err != nil {
		t.Errorf("%s: restored image: %v", p, err)
		return
	}
	if isDir {
		ml, merr := mt.List(ctx, p)
		rl, rerr := rt.List(ctx, p)
		if (merr == nil) != (rerr == nil) || fmt.Sprint(ml) != fmt.Sprint(rl) {
			t.Errorf("%s/: metadump lists %v (%v), the restored image %v (%v)", p, ml, merr, rl, rerr)
			return
		}
		for _, e := range ml {
			walkCompare(ctx, t, mt, rt, p+"/"+e.Name, st)
		}
		return
	}
	mb, merr := renderView(ctx, mt, p)
	rb, rerr := renderView(ctx, rt, p)
	switch {
	case errors.Is(merr, store.ErrNotInMetadump):
		if rerr != nil {
			t.Errorf("%s: absent from the metadump, and the restored image fails too: %v", p, rerr)
		}
		st.absent++
		return
	case (merr == nil) != (rerr == nil):
		t.Errorf("%s: metadump: %v; restored image: %v", p, merr, rerr)
		return
	}
	mb = bytes.ReplaceAll(mb, []byte(mt.FS.Img.Path()), []byte("IMAGE"))
	rb = bytes.ReplaceAll(rb, []byte(rt.FS.Img.Path()), []byte("IMAGE"))
	switch path.Base(p) {
	case "geometry":
		mb, rb = stripGeometry(mb), stripGeometry(rb)
	case "geometry.json":
		mb, rb = stripGeometryJSON(t, mb), stripGeometryJSON(t, rb)
	}
	if !bytes.Equal(mb, rb) {
		t.Errorf("%s differs between the metadump and the restored image:\n%s", p, firstDiff(mb, rb))
		return
	}
	st.equal++
}

func firstDiff(a, b []byte) string {
	al, bl := strings.Split(string(a), "\n"), strings.Split(string(b), "\n")
	for i := 0; i < min(len(al), len(bl)); i++ {
		if al[i] != bl[i] {
			return fmt.Sprintf("line %d:\n  metadump: %q\n  restored: %q", i+1, al[i], bl[i])
		}
	}
	return fmt.Sprintf("lengths %d and %d lines", len(al), len(bl))
}

type treeStats struct{ inodes, absent int }

// compareTree walks the directory tree of both from the root: the same
// entries, the same inode fields; a regular file's contents are absent
// from the metadump (and read from the restored image).
func compareTree(ctx context.Context, t *testing.T, mfs, rfs *fsys.FS) treeStats {
	var st treeStats
	seen := map[uint64]bool{}
	var walk func(ino uint64, p string)
	walk = func(ino uint64, p string) {
		if seen[ino] || ctx.Err() != nil {
			return
		}
		seen[ino] = true
		mi, merr := mfs.Inode(ino)
		ri, rerr := rfs.Inode(ino)
		if merr != nil || rerr != nil {
			t.Errorf("%s (inode %d): metadump %v, restored %v", p, ino, merr, rerr)
			return
		}
		if fmt.Sprint(*mi.Core) != fmt.Sprint(*ri.Core) {
			t.Errorf("%s (inode %d): the inode differs:\n  metadump %+v\n  restored %+v", p, ino, *mi.Core, *ri.Core)
			return
		}
		st.inodes++
		switch mi.FileType() {
		case xfsformat.ModeRegular:
			if mi.Size == 0 {
				return
			}
			mbuf, rbuf := make([]byte, min(mi.Size, 4096)), make([]byte, min(mi.Size, 4096))
			n, merr := mfs.ReadFileAt(mi, mbuf, 0)
			if merr == io.EOF && n == len(mbuf) {
				merr = nil
			}
			if n, err := rfs.ReadFileAt(ri, rbuf, 0); err != nil && (err != io.EOF || n != len(rbuf)) {
				t.Errorf("%s: restored image: %v", p, err)
			}
			switch {
			case errors.Is(merr, store.ErrNotInMetadump):
				st.absent++
			case merr == nil && !bytes.Equal(mbuf, rbuf):
				t.Errorf("%s: read from the metadump without error, but not as restored", p)
			case merr == nil && bytes.Count(mbuf, []byte{0}) != len(mbuf):
				t.Errorf("%s: the metadump gave contents it cannot hold", p)
			case merr != nil:
				t.Errorf("%s: reading its contents from the metadump: %v, want ErrNotInMetadump (or zeros from holes and unwritten extents)", p, merr)
			}
		case xfsformat.ModeDir:
			var me, re []dir.Entry
			merr := mfs.ReadDir(mi, 0, func(e dir.Entry) error { me = append(me, e); return nil })
			rerr := rfs.ReadDir(ri, 0, func(e dir.Entry) error { re = append(re, e); return nil })
			if merr != nil || rerr != nil || fmt.Sprint(me) != fmt.Sprint(re) {
				t.Errorf("%s/: entries differ (metadump %v, restored %v)", p, merr, rerr)
				return
			}
			for _, e := range me {
				if n := string(e.Name); n != "." && n != ".." {
					walk(e.Ino, p+"/"+n)
				}
			}
		}
	}
	walk(mfs.RootIno(), "")
	return st
}
