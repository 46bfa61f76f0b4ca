package forensicgt

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xfsbox/xfsbox/repair/forensics"
)

// perfectManifest is what a flawless recovery of t would write: every
// deleted entry with its inode, path, kind, size and target; each
// regular file's extents as the truth has them, intact where their
// blocks kept their bytes and reused where they changed; and the
// recovered bytes under dir/files/, zeros where blocks were reused
// (then marked incomplete).
func perfectManifest(tb testing.TB, t *Truth, dir string) *forensics.Manifest {
	tb.Helper()
	m := &forensics.Manifest{Image: t.Image}
	bs := uint64(t.Geometry.BlockSize)
	for _, e := range t.Deleted() {
		size := uint64(e.Size)
		f := forensics.DeletedFile{Ino: e.Ino, Kind: string(e.Kind), Path: e.Path, Size: &size, Target: e.Target,
			Names: []forensics.NameEvidence{{Path: e.Path, Source: "dir-block", Where: "truth"}}}
		if e.Kind != Regular {
			m.Files = append(m.Files, f)
			continue
		}
		data := t.Bytes(e)
		complete := true
		var gaps []string
		for _, x := range e.Extents {
			// Split the extent at its changed blocks.
			at := x.StartBlock
			end := x.StartBlock + x.Blocks
			for at < end {
				changed, next := false, end
				for _, c := range x.Changed {
					if c.Start <= at && at < c.Start+c.Blocks {
						changed, next = true, min(end, c.Start+c.Blocks)
						break
					}
					if c.Start > at {
						next = min(next, c.Start)
					}
				}
				claim := forensics.ExtentClaim{FileOffset: x.FileOffset + (at - x.StartBlock), StartBlock: at, Blocks: uint32(next - at), Unwritten: x.Unwritten, Verdict: forensics.Intact}
				if changed {
					claim.Verdict = forensics.Reused
					lo := min(claim.FileOffset*bs, size)
					hi := min((claim.FileOffset+uint64(claim.Blocks))*bs, size)
					if lo < hi {
						clear(data[lo:hi])
						complete = false
						gaps = append(gaps, fmt.Sprintf("%d+%d", lo, hi-lo))
					}
				}
				f.Extents = append(f.Extents, claim)
				at = next
			}
		}
		name := filepath.Join("files", filepath.FromSlash(strings.TrimPrefix(e.Path, "/")))
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			tb.Fatal(err)
		}
		f.Recovery = &forensics.RecoveredFile{File: filepath.ToSlash(name), Bytes: uint64(len(data)), SHA256: sum(data), Complete: complete, Gaps: gaps}
		m.Files = append(m.Files, f)
	}
	return m
}

// synthetic is a small truth made by hand, for the scorer's tests
// without root: a live directory, deleted files (one with a block
// reused since, one sparse, one preallocated), a deleted symlink and a
// live file.
func synthetic(t *testing.T) *Truth {
	spec, err := Spec{Seed: 7}.Normalize()
	if err != nil {
		t.Fatal(err)
	}
	tr := &Truth{Spec: spec, Geometry: Geometry{BlockSize: 4096}, Entries: []*Entry{
		{Path: "/d", Ino: 128, Kind: Directory},
		{Path: "/d/a", Ino: 131, Kind: Regular, Size: 10000, Extents: []Extent{{FileOffset: 0, StartBlock: 1000, Blocks: 3}}, Deleted: true, DeleteOrder: 1},
		{Path: "/d/b", Ino: 132, Kind: Regular, Size: 8192, Extents: []Extent{{FileOffset: 0, StartBlock: 2000, Blocks: 1}, {FileOffset: 1, StartBlock: 2005, Blocks: 1, Changed: []BlockRange{{2005, 1}}, ReusedBy: []string{"/d/new"}}}, Deleted: true, DeleteOrder: 2},
		{Path: "/d/s", Ino: 133, Kind: Symlink, Size: 3, Target: "x/y", Deleted: true, DeleteOrder: 3},
		{Path: "/d/live", Ino: 134, Kind: Regular, Size: 5, Extents: []Extent{{FileOffset: 0, StartBlock: 3000, Blocks: 1}}},
		{Path: "/d/sparse", Ino: 135, Kind: Regular, Size: 3 * 4096, Written: []Range{{4096, 100}}, Extents: []Extent{{FileOffset: 1, StartBlock: 4000, Blocks: 1}}, Deleted: true, DeleteOrder: 4},
		{Path: "/d/pre", Ino: 136, Kind: Regular, Size: 8192, Written: []Range{{0, 4096}}, Extents: []Extent{{FileOffset: 0, StartBlock: 5000, Blocks: 1}, {FileOffset: 1, StartBlock: 5001, Blocks: 1, Unwritten: true}}, Deleted: true, DeleteOrder: 5},
		{Path: "/d/new", Ino: 137, Kind: Regular, Size: 4096, Phase: "aged", Extents: []Extent{{FileOffset: 0, StartBlock: 2005, Blocks: 1}}},
		{Path: "/d/again", Ino: 131, Kind: Regular, Size: 0, Phase: "aged"},
	}}
	for _, e := range tr.Entries {
		if e.Kind == Regular {
			e.SHA256 = sum(tr.Bytes(e))
		}
	}
	return tr
}

func TestScoreEmptyAndPerfect(t *testing.T) {
	tr := synthetic(t)
	s := tr.Score(&forensics.Manifest{}, "")
	if s.DeletedEntries != 5 || s.DeletedFiles != 4 || s.NamedEntries != 0 || s.ByteExact != 0 || len(s.FalseClaims) != 0 {
		t.Fatalf("empty manifest: %+v", s)
	}
	if s := tr.Score(nil, ""); len(s.FalseClaims) != 0 || s.NamedEntries != 0 {
		t.Fatalf("nil manifest: %+v", s)
	}
	dir := t.TempDir()
	s = tr.Score(perfectManifest(t, tr, dir), dir)
	// /d/b lost a block to /d/new: named, not byte-exact, no false claim.
	if s.NamedEntries != 5 || s.NamedFiles != 4 || s.ByteExact != 3 || len(s.FalseClaims) != 0 {
		t.Fatalf("perfect manifest: %s", s.Report())
	}
	if !strings.Contains(s.String(), "| 4 | 100.0% (5/5) | 75.0% (3/4) | 0 |") {
		t.Errorf("row %q", s.String())
	}
}

// TestScoreCatchesFalseClaims spoils a perfect manifest one way at a
// time; each must show as a false claim saying what is wrong.
func TestScoreCatchesFalseClaims(t *testing.T) {
	find := func(m *forensics.Manifest, path string) *forensics.DeletedFile {
		for i := range m.Files {
			if m.Files[i].Path == path {
				return &m.Files[i]
			}
		}
		t.Fatalf("no %s in the manifest", path)
		return nil
	}
	rewrite := func(t *testing.T, dir string, f *forensics.DeletedFile, change func([]byte)) {
		p := filepath.Join(dir, f.Recovery.File)
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		change(b)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		// The manifest tells the truth about what it wrote.
		f.Recovery.SHA256, f.Recovery.Bytes = sum(b), uint64(len(b))
	}
	for _, c := range []struct {
		name  string
		spoil func(t *testing.T, m *forensics.Manifest, dir string)
		want  []string
		named int
	}{
		{"wrong byte in an intact extent", func(t *testing.T, m *forensics.Manifest, dir string) {
			rewrite(t, dir, find(m, "/d/a"), func(b []byte) { b[5000] ^= 1 })
		}, []string{"bytes that are not the file's (bytes 0 to 10000; the first wrong one at 5000)", "marked recovered complete"}, 5},
		{"names swapped", func(t *testing.T, m *forensics.Manifest, dir string) {
			a, b := find(m, "/d/a"), find(m, "/d/b")
			a.Path, b.Path = b.Path, a.Path
		}, []string{`(inode 131) is named "/d/b", which was inode 132`, `(inode 132) is named "/d/a", which was inode 131`}, 3},
		{"name never existed", func(t *testing.T, m *forensics.Manifest, dir string) {
			find(m, "/d/a").Names = append(find(m, "/d/a").Names, forensics.NameEvidence{Path: "/d/nothing"})
		}, []string{`named "/d/nothing", a path no file`}, 5},
		{"wrong size", func(t *testing.T, m *forensics.Manifest, dir string) {
			n := uint64(9999)
			find(m, "/d/a").Size = &n
		}, []string{"is said to be 9999 bytes; it was 10000"}, 5},
		{"reused block called intact", func(t *testing.T, m *forensics.Manifest, dir string) {
			f := find(m, "/d/b")
			for i := range f.Extents {
				f.Extents[i].Verdict = forensics.Intact
			}
		}, []string{"includes blocks 2005 to 2006, which hold other bytes since the deletion (reused by /d/new)"}, 5},
		{"extent mapped elsewhere", func(t *testing.T, m *forensics.Manifest, dir string) {
			find(m, "/d/a").Extents[0].StartBlock = 1001
		}, []string{"puts file block 0 at block 1001; it was at block 1000"}, 5},
		{"hole called data", func(t *testing.T, m *forensics.Manifest, dir string) {
			f := find(m, "/d/sparse")
			f.Extents[0].FileOffset, f.Extents[0].Blocks = 0, 2
		}, []string{"covers file blocks 0 to 1, a hole of the file"}, 5},
		{"unwritten read as data", func(t *testing.T, m *forensics.Manifest, dir string) {
			f := find(m, "/d/pre")
			f.Extents[1].Unwritten = false
		}, []string{"they were unwritten"}, 5},
		{"reusing file's name given to the deleted inode", func(t *testing.T, m *forensics.Manifest, dir string) {
			find(m, "/d/a").Names = append(find(m, "/d/a").Names, forensics.NameEvidence{Path: "/d/again"})
		}, []string{`(inode 131) is named "/d/again", the path of a later file that reused the inode`}, 5},
		{"live inode listed", func(t *testing.T, m *forensics.Manifest, dir string) {
			m.Files = append(m.Files, forensics.DeletedFile{Ino: 134, Kind: "regular"})
		}, []string{"the truth deleted no inode 134 (it is live, as /d/live)"}, 5},
		{"wrong symlink target", func(t *testing.T, m *forensics.Manifest, dir string) {
			find(m, "/d/s").Target = "x/z"
		}, []string{`is said to point to "x/z"; it pointed to "x/y"`}, 5},
		{"manifest lies about what it wrote", func(t *testing.T, m *forensics.Manifest, dir string) {
			find(m, "/d/sparse").Recovery.SHA256 = strings.Repeat("0", 64)
		}, []string{"the manifest says \"files/d/sparse\" holds 12288 bytes of sha256 0000"}, 5},
		{"recovered file missing", func(t *testing.T, m *forensics.Manifest, dir string) {
			os.Remove(filepath.Join(dir, find(m, "/d/a").Recovery.File))
		}, []string{"which cannot be read"}, 5},
		{"complete but wrong", func(t *testing.T, m *forensics.Manifest, dir string) {
			f := find(m, "/d/b")
			f.Recovery.Complete = true
		}, []string{"is marked recovered complete with 8192 bytes"}, 5},
	} {
		t.Run(c.name, func(t *testing.T) {
			tr := synthetic(t)
			dir := t.TempDir()
			m := perfectManifest(t, tr, dir)
			c.spoil(t, m, dir)
			s := tr.Score(m, dir)
			if len(s.FalseClaims) == 0 {
				t.Fatalf("no false claim: %s", s.Report())
			}
			for _, w := range c.want {
				found := false
				for _, fc := range s.FalseClaims {
					found = found || strings.Contains(fc, w)
				}
				if !found {
					t.Errorf("no false claim saying %q:\n%s", w, s.Report())
				}
			}
			if s.NamedEntries != c.named {
				t.Errorf("named %d, want %d", s.NamedEntries, c.named)
			}
		})
	}
}

func TestContentAndSpec(t *testing.T) {
	a := Content(1, "/x", 100000)
	if len(a) != 100000 || string(a) != string(Content(1, "/x", 100000)) {
		t.Fatal("Content is not a function of (seed, path, size)")
	}
	if string(Content(1, "/x", 10)) != string(a[:10]) {
		t.Error("a shorter Content is not a prefix of a longer one")
	}
	if string(Content(2, "/x", 100)) == string(a[:100]) || string(Content(1, "/y", 100)) == string(a[:100]) {
		t.Error("Content does not depend on the seed and the path")
	}
	if len(Content(1, "/x", 0)) != 0 {
		t.Error("empty Content")
	}
	s, err := Spec{}.Normalize()
	if err != nil || s.Variant != Fresh || s.ImageSize != 512<<20 || s.BlockSize != 4096 || s.LogBlocks != 0 || s.Seed != 1 {
		t.Fatalf("defaults: %+v %v", s, err)
	}
	w, _ := Spec{Variant: Wrapped}.Normalize()
	if w.LogBlocks != -1 || w.Key() == s.Key() {
		t.Errorf("wrapped: %+v (key %s, fresh's %s)", w, w.Key(), s.Key())
	}
	for _, bad := range []Spec{{Variant: "stale"}, {BlockSize: 3000}, {DeleteFraction: 1}, {NodeEntries: 5}, {ImageSize: 1 << 20}} {
		if _, err := bad.Normalize(); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

// TestPlanCovers: the plan (without a filesystem) has what the truth is
// meant to exercise, and the deletion choice takes some of every group
// and never all of one.
func TestPlanCovers(t *testing.T) {
	s, _ := Spec{}.Normalize()
	ps := plan(s)
	singles, subtrees := chooseDeletions(s, ps)
	chosen := map[string]bool{}
	for _, p := range singles {
		chosen[p] = true
	}
	perDir := map[string][2]int{}
	for _, p := range ps {
		if !p.deletable {
			continue
		}
		d := filepath.Dir(p.path)
		n := perDir[d]
		n[0]++
		if chosen[p.path] {
			n[1]++
		}
		perDir[d] = n
	}
	for _, d := range []string{"/sf", "/block", "/leaf", "/node", "/frag", "/sparse", "/links", "/xattr"} {
		n := perDir[d]
		if n[1] == 0 || n[1] == n[0] {
			t.Errorf("%s: %d of %d entries deleted", d, n[1], n[0])
		}
	}
	if len(singles) != len(chosen) {
		t.Error("an entry is deleted twice")
	}
	if len(subtrees) != 4 {
		t.Errorf("subtrees %v", subtrees)
	}
	again, _ := chooseDeletions(s, plan(s))
	if strings.Join(again, ",") != strings.Join(singles, ",") {
		t.Error("the deletion choice is not deterministic")
	}
}
