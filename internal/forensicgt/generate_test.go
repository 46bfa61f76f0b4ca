package forensicgt

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/xfsbox/xfsbox/internal/testimg"
	"github.com/xfsbox/xfsbox/internal/xfsdb"
	"github.com/xfsbox/xfsbox/repair/forensics"
)

// testSpecs are the images make test generates (once; then cached):
// the three variants, one of them with rmapbt.
var testSpecs = []Spec{{Variant: Fresh}, {Variant: Wrapped}, {Variant: Aged, Rmapbt: true}}

// TestGeneratedTruth holds each generated truth to tools we did not
// write: the kernel (a read-only loop mount of a copy: the live entries
// with their inode numbers, generations, contents, targets and xattrs,
// nothing else, and none of the deleted), xfs_db (directory formats,
// fork formats and extent maps), the image's bytes (each extent holds
// the content Content regenerates), and xfs_logprint (what the log
// holds of the deleted inodes).
func TestGeneratedTruth(t *testing.T) {
	testimg.Require(t, "root", "xfsprogs", "loop")
	for _, spec := range testSpecs {
		t.Run(spec.Key()+"-"+string(spec.Variant), func(t *testing.T) {
			tr := Cached(t, spec)
			t.Logf("%s: %d entries, %d deleted, generated in %.1fs; log %+v", tr.Spec, len(tr.Entries), len(tr.Deleted()), tr.Seconds, tr.Log)
			checkContent(t, tr)
			checkCoverage(t, tr)
			checkFormats(t, tr)
			checkOnDisk(t, tr)
			checkMount(t, tr)
			checkLog(t, tr)
		})
	}
}

// checkContent: the sha256 the kernel read back before the deletions is
// the sha256 of the content regenerated from the seed.
func checkContent(t *testing.T, tr *Truth) {
	for _, e := range tr.Entries {
		switch e.Kind {
		case Regular:
			if got := sum(tr.Bytes(e)); got != e.SHA256 {
				t.Errorf("%s: read back sha256 %s, regenerated %s", e.Path, e.SHA256, got)
			}
		case Symlink:
			if e.Size != int64(len(e.Target)) {
				t.Errorf("%s: size %d, target of %d bytes", e.Path, e.Size, len(e.Target))
			}
		}
		if e.Ino == 0 || e.ForkFormat == "" {
			t.Errorf("%s: inode %d gen %d fork %q", e.Path, e.Ino, e.Gen, e.ForkFormat)
		}
	}
}

// checkCoverage: the deletions cover what issue 17 asks for.
func checkCoverage(t *testing.T, tr *Truth) {
	parentFormats := map[DirFormat]bool{}
	subtrees := map[DirFormat]bool{}
	sizesDeleted := map[int64]bool{}
	var bmbt, sparse, inline, remote, xattr, order int
	for _, e := range tr.Deleted() {
		order++
		if e.DeleteOrder != order || e.DeletedAt == "" {
			t.Errorf("%s: deletion %d of order %d at %q", e.Path, order, e.DeleteOrder, e.DeletedAt)
		}
		if p := tr.Lookup(e.Parent); p != nil && !p.Deleted {
			parentFormats[e.ParentFormat] = true
		}
		if e.Kind == Directory && e.Group == "doomed" {
			subtrees[e.DirFormat] = true
		}
		switch e.Kind {
		case Regular:
			sizesDeleted[e.Size] = true
			if e.ForkFormat == "btree" && e.NExtents > 21 {
				bmbt++
			}
			if e.Written != nil {
				sparse++
			}
			if len(e.Xattrs) > 0 {
				xattr++
			}
		case Symlink:
			if e.ForkFormat == "local" {
				inline++
			} else {
				remote++
			}
		}
	}
	for _, f := range []DirFormat{Shortform, Block, Leaf, Node} {
		if !parentFormats[f] {
			t.Errorf("no single deletion from a live %s directory", f)
		}
		if !subtrees[f] {
			t.Errorf("no %s directory removed whole", f)
		}
	}
	for _, s := range sizes {
		if !sizesDeleted[s] {
			t.Errorf("no deleted file of %d bytes", s)
		}
	}
	if bmbt < 2 || sparse == 0 || inline == 0 || remote == 0 || xattr < 2 {
		t.Errorf("deleted: %d bmbt files, %d sparse, %d inline and %d remote symlinks, %d with xattrs", bmbt, sparse, inline, remote, xattr)
	}
}

// checkFormats asks xfs_db, on the final image, the format of every
// surviving directory (the fork format; the magic at dir offset 0, at
// the leaf offset and at the free offset) and holds DirFormatAfter to
// it; and the four format directories to the format they are named for.
func checkFormats(t *testing.T, tr *Truth) {
	img := tr.ImagePath()
	leafOff, freeOff := uint64(1<<35)/uint64(tr.Geometry.BlockSize), uint64(1<<36)/uint64(tr.Geometry.BlockSize)
	magic := func(ino, off uint64, field string) uint64 {
		o, err := xfsdb.Print(img, "inode "+strconv.FormatUint(ino, 10), "dblock "+strconv.FormatUint(off, 10), "print "+field)
		if err != nil {
			return 0
		}
		v, _ := o.Uint(field)
		return v
	}
	named := map[string]DirFormat{"/sf": Shortform, "/block": Block, "/leaf": Leaf, "/node": Node,
		"/doomed/sf": Shortform, "/doomed/block": Block, "/doomed/leaf": Leaf, "/doomed/node": Node}
	for _, e := range tr.Entries {
		if e.Kind != Directory {
			continue
		}
		if w, ok := named[e.Path]; ok && e.DirFormat != w {
			t.Errorf("%s is a %s directory, made to be %s: %s", e.Path, e.DirFormat, w, e.DirEvidence)
		}
		if e.Deleted {
			continue
		}
		if tr.Spec.Variant != Aged && named[e.Path] != "" && e.DirFormatAfter != e.DirFormat {
			t.Errorf("%s: %s before the deletions, %s after", e.Path, e.DirFormat, e.DirFormatAfter)
		}
		o, err := xfsdb.Print(img, "inode "+strconv.FormatUint(e.Ino, 10), "print core.format")
		if err != nil {
			t.Fatal(err)
		}
		var got DirFormat
		switch f := o.Value("core.format"); {
		case strings.HasPrefix(f, "1 "):
			got = Shortform
		case magic(e.Ino, 0, "bhdr.hdr.magic") == 0x58444233:
			got = Block
		case magic(e.Ino, leafOff, "lhdr.info.hdr.magic") == 0x3df1:
			got = Leaf
		case magic(e.Ino, leafOff, "nhdr.info.hdr.magic") == 0x3ebe && magic(e.Ino, freeOff, "fhdr.hdr.magic") == 0x58444633:
			got = Node
		}
		if got != e.DirFormatAfter {
			t.Errorf("%s: the truth says %s, xfs_db shows %q (core.format %s)", e.Path, e.DirFormatAfter, got, o.Value("core.format"))
		}
	}
}

// checkOnDisk reads the image: every written extent of a live regular
// file holds its content; a deleted file's blocks hold its content
// unless the truth says they changed (then they do not); the live
// fragmented files are in btree format with the extents xfs_db maps.
func checkOnDisk(t *testing.T, tr *Truth) {
	f, err := os.Open(tr.ImagePath())
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	bs := uint64(tr.Geometry.BlockSize)
	var changed, reused int64
	for _, e := range tr.Entries {
		if e.Kind != Regular {
			continue
		}
		data := tr.Bytes(e)
		for _, x := range e.Extents {
			if x.Unwritten || x.FileOffset*bs >= uint64(e.Size) {
				continue
			}
			raw, err := readBlocks(f, tr.Geometry, x.StartBlock, x.Blocks)
			if err != nil {
				t.Fatal(err)
			}
			for b := range x.Blocks {
				lo := (x.FileOffset + b) * bs
				hi := min(lo+bs, uint64(e.Size))
				if lo >= hi {
					break
				}
				isChanged := false
				for _, c := range x.Changed {
					isChanged = isChanged || c.Start <= x.StartBlock+b && x.StartBlock+b < c.Start+c.Blocks
				}
				same := bytes.Equal(raw[b*bs:b*bs+hi-lo], data[lo:hi])
				switch {
				case isChanged && same:
					t.Errorf("%s: block %d is said to have changed and holds the file's bytes", e.Path, x.StartBlock+b)
				case !isChanged && !same:
					t.Errorf("%s: block %d (file block %d) does not hold the file's bytes", e.Path, x.StartBlock+b, x.FileOffset+b)
				}
			}
			for _, c := range x.Changed {
				changed += int64(c.Blocks)
			}
			if len(x.ReusedBy) > 0 {
				reused++
			}
		}
		if e.Group == "frag" && !e.Deleted {
			if e.ForkFormat != "btree" || e.NExtents <= 21 {
				t.Errorf("%s: %s fork of %d extents", e.Path, e.ForkFormat, e.NExtents)
			}
			exts, err := xfsdb.Bmap(tr.ImagePath(), e.Ino, false)
			if err != nil || len(exts) != len(e.Extents) {
				t.Fatalf("%s: xfs_db bmap: %d extents, %v; the truth has %d", e.Path, len(exts), err, len(e.Extents))
			}
			for i, x := range exts {
				if y := e.Extents[i]; x.Offset != y.FileOffset || x.StartBlock != y.StartBlock || x.Count != y.Blocks {
					t.Errorf("%s: extent %d: xfs_db %+v, truth %+v", e.Path, i, x, y)
				}
			}
		}
	}
	if changed != tr.ChangedBlocks {
		t.Errorf("%d changed blocks listed, %d counted", changed, tr.ChangedBlocks)
	}
	if tr.Spec.Variant == Aged {
		if changed == 0 || reused == 0 {
			t.Errorf("aged: %d blocks of deleted files changed, %d extents reused by new files", changed, reused)
		}
	} else if changed != 0 {
		t.Errorf("%s: %d blocks of deleted files changed", tr.Spec.Variant, changed)
	}
}

// fsIocGetVersion is FS_IOC_GETVERSION (_IOR('v', 1, long)) where long
// is 8 bytes and _IOC_READ is 2 (amd64, arm64); 0 elsewhere.
func fsIocGetVersion() uint {
	if runtime.GOARCH == "amd64" || runtime.GOARCH == "arm64" {
		return 2<<30 | 8<<16 | 'v'<<8 | 1
	}
	return 0
}

// checkMount mounts a copy of the image read-only and walks it: the
// tree is exactly the live entries, each with its inode number, kind,
// generation, content, target and xattrs; the deleted paths are gone.
func checkMount(t *testing.T, tr *Truth) {
	cp := filepath.Join(t.TempDir(), "copy.img")
	if out, err := exec.Command("cp", "--sparse=always", tr.ImagePath(), cp).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v\n%s", err, out)
	}
	os.Chmod(cp, 0o644)
	mnt, umount := testimg.LoopMount(t, cp, "loop,ro")
	defer umount()
	seen := map[string]bool{}
	err := filepath.WalkDir(mnt, func(h string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(mnt, h)
		p := "/" + filepath.ToSlash(rel)
		if rel == "." {
			p = "/"
		}
		e := tr.Lookup(p)
		if e == nil || e.Deleted {
			t.Errorf("%s is on the mount and not a live entry of the truth", p)
			return nil
		}
		seen[p] = true
		st, err := os.Lstat(h)
		if err != nil {
			return err
		}
		if ino := st.Sys().(*syscall.Stat_t).Ino; ino != e.Ino {
			t.Errorf("%s: inode %d, the truth says %d", p, ino, e.Ino)
		}
		switch e.Kind {
		case Directory:
			if !st.IsDir() {
				t.Errorf("%s: not a directory", p)
			}
		case Symlink:
			if target, err := os.Readlink(h); err != nil || target != e.Target {
				t.Errorf("%s: target %q (%v), the truth says %q", p, target, err, e.Target)
			}
		case Regular:
			b, err := os.ReadFile(h)
			if err != nil || sum(b) != e.SHA256 {
				t.Errorf("%s: sha256 %s (%v), the truth says %s", p, sum(b), err, e.SHA256)
			}
			for _, x := range e.Xattrs {
				v := make([]byte, x.Size+1)
				n, err := unix.Getxattr(h, x.Name, v)
				if err != nil || n != x.Size || sum(v[:n]) != x.SHA256 {
					t.Errorf("%s: xattr %s: %d bytes (%v), the truth says %d of sha256 %s", p, x.Name, n, err, x.Size, x.SHA256)
				}
			}
			if req := fsIocGetVersion(); req != 0 {
				fd, err := unix.Open(h, unix.O_RDONLY, 0)
				if err != nil {
					return err
				}
				gen, err := unix.IoctlGetInt(fd, req)
				unix.Close(fd)
				if err != nil || uint32(gen) != e.Gen {
					t.Errorf("%s: generation %d (%v), the truth says %d", p, gen, err, e.Gen)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range tr.Entries {
		if !e.Deleted && !seen[e.Path] {
			t.Errorf("%s: live in the truth, not on the mount", e.Path)
		}
		if e.Deleted && tr.Lookup(e.Path).Deleted {
			if _, err := os.Lstat(filepath.Join(mnt, e.Path)); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("%s: deleted, and Lstat says %v", e.Path, err)
			}
		}
	}
}

// checkLog reads the final log again (xfs_logprint from its oldest
// record): the churn files, changed last, must be in it (else the read
// saw nothing); the deleted inodes must be there on a fresh or aged
// image (freed, and the files alive with their size and extent map), and
// nowhere once the log has wrapped.
func checkLog(t *testing.T, tr *Truth) {
	var lt LogTruth
	inodes, err := readLog(tr.ImagePath(), &lt)
	if err != nil {
		t.Fatal(err)
	}
	if !lt.Clean || lt.Records == 0 {
		t.Errorf("log state %+v", lt)
	}
	var deleted, regular, withExtents, freed, sized, mapped, any, churn int
	for _, e := range tr.Entries {
		li := inodes[e.Ino]
		if e.Group == "churn" && e.Kind == Regular && li != nil {
			churn++
		}
		if !e.Deleted {
			continue
		}
		deleted++
		if e.Kind == Regular {
			regular++
			if len(e.Extents) > 0 {
				withExtents++
			}
		}
		if li == nil {
			continue
		}
		if e.Kind == Regular && len(e.Extents) > 0 && li.mapped {
			mapped++
		}
		any++
		if li.freed {
			freed++
		}
		if e.Kind == Regular && li.sizes[e.Size] {
			sized++
		}
	}
	if any != tr.Log.DeletedInLog || freed != tr.Log.DeletedFreedInLog || sized != tr.Log.DeletedSizedInLog || mapped != tr.Log.DeletedMappedInLog {
		t.Errorf("log: %d deleted inodes in it, %d freed, %d sized, %d mapped; the truth says %+v", any, freed, sized, mapped, tr.Log)
	}
	switch tr.Spec.Variant {
	case Wrapped:
		if !tr.Log.Wrapped || any != 0 || churn == 0 {
			t.Errorf("wrapped log: wrapped %v, %d deleted inodes still logged, %d churn files logged", tr.Log.Wrapped, any, churn)
		}
	default:
		if tr.Log.Wrapped || freed != deleted || sized != regular || mapped != withExtents {
			t.Errorf("%s log: wrapped %v; of %d deleted inodes %d logged freed; of %d deleted files %d logged with their size; of %d with extents %d with their map", tr.Spec.Variant, tr.Log.Wrapped, deleted, freed, regular, sized, withExtents, mapped)
		}
	}
}

// TestScoreGenerated scores manifests against generated truths: none
// (nothing named, no false claim), a perfect recovery (every name, every
// file whose blocks kept their bytes, no false claim), and a perfect
// recovery spoiled by one byte and one swapped pair of names.
func TestScoreGenerated(t *testing.T) {
	testimg.Require(t, "root", "xfsprogs", "loop")
	for _, spec := range []Spec{testSpecs[0], testSpecs[2]} {
		t.Run(string(spec.Variant), func(t *testing.T) {
			tr := Cached(t, spec)
			s := tr.Score(&forensics.Manifest{}, "")
			if s.NamedEntries != 0 || s.ByteExact != 0 || len(s.FalseClaims) != 0 || s.DeletedFiles == 0 {
				t.Fatalf("empty manifest: %s", s.Report())
			}
			dir := t.TempDir()
			m := perfectManifest(t, tr, dir)
			s = tr.Score(m, dir)
			intactFiles := 0
			for _, e := range tr.Deleted() {
				whole := true
				for _, x := range e.Extents {
					whole = whole && len(x.Changed) == 0
				}
				if e.Kind == Regular && whole {
					intactFiles++
				}
			}
			if s.NamedEntries != s.DeletedEntries || s.ByteExact != intactFiles || len(s.FalseClaims) != 0 {
				t.Fatalf("perfect manifest (%d files kept every block): %s", intactFiles, s.Report())
			}
			if spec.Variant == Fresh && s.ByteExactPercent() != 100 {
				t.Errorf("fresh: %s", s)
			}
			t.Logf("%s\n%s", ScoreHeader(), s)

			// Spoil it: a byte in an intact extent of a recovered file,
			// and the names of that file and another.
			var spoiled, other *forensics.DeletedFile
			at := uint64(0)
			for i := range m.Files {
				f := &m.Files[i]
				if f.Recovery != nil && f.Recovery.Complete && spoiled == nil && tr.Lookup(f.Path).Written == nil {
					for _, c := range f.Extents {
						if c.Verdict == forensics.Intact && c.Blocks > 0 && c.FileOffset*uint64(tr.Geometry.BlockSize) < *f.Size {
							spoiled, at = f, c.FileOffset*uint64(tr.Geometry.BlockSize)+1
							break
						}
					}
				} else if f.Kind == "regular" && other == nil {
					other = f
				}
			}
			if spoiled == nil || other == nil {
				t.Fatal("no file to spoil")
			}
			p := filepath.Join(dir, spoiled.Recovery.File)
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			b[at] ^= 0x40
			os.WriteFile(p, b, 0o644)
			spoiled.Recovery.SHA256 = sum(b)
			spoiled.Path, other.Path = other.Path, spoiled.Path
			s2 := tr.Score(m, dir)
			if s2.NamedEntries != s.NamedEntries-2 || s2.ByteExact != s.ByteExact-1 || len(s2.FalseClaims) < 4 {
				t.Errorf("spoiled manifest: %s", s2.Report())
			}
		})
	}
}
