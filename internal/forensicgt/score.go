package forensicgt

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/xfsbox/xfsbox/repair/forensics"
)

// Score is how a recovery manifest fares against the truth.
type Score struct {
	Spec Spec
	// DeletedEntries counts the deleted entries of every kind, and
	// NamedEntries those the manifest names right: an entry with the
	// inode number whose Path is the true path.
	DeletedEntries, NamedEntries int
	// DeletedFiles counts the deleted regular files, NamedFiles those
	// named right, ByteExact those whose recovered file has the true
	// size and sha256.
	DeletedFiles, NamedFiles, ByteExact int
	// Listed counts the manifest's entries.
	Listed int
	// FalseClaims say, in words, each claim of the manifest the truth
	// contradicts. There must be none.
	FalseClaims []string
}

// NamesPercent is the share of deleted entries named right.
func (s Score) NamesPercent() float64 { return percent(s.NamedEntries, s.DeletedEntries) }

// ByteExactPercent is the share of deleted regular files recovered
// byte-exact.
func (s Score) ByteExactPercent() float64 { return percent(s.ByteExact, s.DeletedFiles) }

func percent(n, of int) float64 {
	if of == 0 {
		return 0
	}
	return 100 * float64(n) / float64(of)
}

// ScoreHeader is the header of the table String's rows make (Markdown).
func ScoreHeader() string {
	return "| variant | deleted files | names (deleted entries) | byte-exact | false claims |\n" +
		"|---|---:|---:|---:|---:|"
}

// String is the score as a row of ScoreHeader's table.
func (s Score) String() string {
	return fmt.Sprintf("| %s | %d | %.1f%% (%d/%d) | %.1f%% (%d/%d) | %d |",
		s.Spec, s.DeletedFiles, s.NamesPercent(), s.NamedEntries, s.DeletedEntries,
		s.ByteExactPercent(), s.ByteExact, s.DeletedFiles, len(s.FalseClaims))
}

// Report is the row and then every false claim, one a line.
func (s Score) Report() string {
	var b strings.Builder
	b.WriteString(s.String())
	b.WriteByte('\n')
	for _, c := range s.FalseClaims {
		b.WriteString("  false claim: " + c + "\n")
	}
	return b.String()
}

// Score holds the manifest m, and the files a recovery wrote under
// outDir ("" when there are none to read), to the truth.
//
// Counted: each deleted entry named right (a manifest entry with its
// inode number whose Path is its path); each deleted regular file whose
// recovered file (outDir/Recovery.File) has the true size and sha256.
//
// False claims: a path (Path or one of Names) that no deleted entry of
// that inode had (another inode's, a later file's that reused the inode,
// or none ever); an inode listed as deleted that the truth never deleted;
// a wrong kind, a wrong Size (regular files and symlinks), a wrong
// symlink target; an extent called intact whose blocks the truth maps
// elsewhere, or which hold other bytes since (the truth's Changed), or
// whose recovered bytes differ from the true bytes of that file range; a
// recovery's sha256 or byte count that is not the written file's, a
// recovered file that is missing, and a recovery marked complete whose
// sha256 or size is not the truth's.
func (t *Truth) Score(m *forensics.Manifest, outDir string) Score {
	s := Score{Spec: t.Spec}
	deletedByIno := map[uint64][]*Entry{}
	pathInos := map[string][]uint64{}
	for _, e := range t.Entries {
		pathInos[e.Path] = append(pathInos[e.Path], e.Ino)
		if e.Deleted {
			deletedByIno[e.Ino] = append(deletedByIno[e.Ino], e)
			s.DeletedEntries++
			if e.Kind == Regular {
				s.DeletedFiles++
			}
		}
	}
	claim := func(f string, args ...any) { s.FalseClaims = append(s.FalseClaims, fmt.Sprintf(f, args...)) }
	named := map[*Entry]bool{}
	exact := map[*Entry]bool{}
	var files []forensics.DeletedFile
	if m != nil {
		files = m.Files
	}
	s.Listed = len(files)
	for i := range files {
		mf := &files[i]
		who := fmt.Sprintf("entry %d (inode %d)", i, mf.Ino)
		cands := deletedByIno[mf.Ino]
		if len(cands) == 0 {
			what := "no entry ever had that inode"
			if live := t.liveWithIno(mf.Ino); live != nil {
				what = "it is live, as " + live.Path
			}
			claim("%s is listed as deleted, and the truth deleted no inode %d (%s)", who, mf.Ino, what)
			continue
		}
		// Every name given must be one a deleted entry of that inode
		// had (not a later file's that reused the inode).
		paths := []string{mf.Path}
		for _, n := range mf.Names {
			if !slices.Contains(paths, n.Path) {
				paths = append(paths, n.Path)
			}
		}
		for _, p := range paths {
			if p == "" || slices.ContainsFunc(cands, func(e *Entry) bool { return e.Path == p }) {
				continue
			}
			switch inos := pathInos[p]; {
			case len(inos) == 0:
				claim("%s is named %q, a path no file, directory or symlink ever had", who, p)
			case slices.Contains(inos, mf.Ino):
				claim("%s is named %q, the path of a later file that reused the inode", who, p)
			default:
				claim("%s is named %q, which was inode %s", who, p, joinInos(inos))
			}
		}
		te := cands[len(cands)-1]
		for _, c := range cands {
			if c.Path == mf.Path {
				te = c
			}
		}
		if mf.Path == te.Path {
			named[te] = true
		}
		who = fmt.Sprintf("entry %d (inode %d, truly %s)", i, mf.Ino, te.Path)
		if mf.Kind != "" && mf.Kind != "unknown" && mf.Kind != string(te.Kind) {
			claim("%s is said to be a %s; it was a %s", who, mf.Kind, te.Kind)
		}
		if mf.Size != nil && (te.Kind == Regular || te.Kind == Symlink) && *mf.Size != uint64(te.Size) {
			claim("%s is said to be %d bytes; it was %d", who, *mf.Size, te.Size)
		}
		if te.Kind == Symlink && mf.Target != "" && mf.Target != te.Target {
			claim("%s is said to point to %q; it pointed to %q", who, mf.Target, te.Target)
		}
		if te.Kind == Regular {
			if t.scoreFile(te, mf, outDir, who, claim) {
				exact[te] = true
			}
		}
	}
	for e := range named {
		s.NamedEntries++
		if e.Kind == Regular {
			s.NamedFiles++
		}
	}
	s.ByteExact = len(exact)
	return s
}

// scoreFile checks a deleted regular file's extent claims and recovery,
// and says whether the recovered file is byte-exact.
func (t *Truth) scoreFile(te *Entry, mf *forensics.DeletedFile, outDir, who string, claim func(string, ...any)) bool {
	var rec []byte
	haveRec := false
	if r := mf.Recovery; r != nil {
		if r.Complete && (r.SHA256 != te.SHA256 || r.Bytes != uint64(te.Size)) {
			claim("%s is marked recovered complete with %d bytes of sha256 %s; the file was %d bytes of sha256 %s", who, r.Bytes, r.SHA256, te.Size, te.SHA256)
		}
		if outDir != "" {
			if !filepath.IsLocal(filepath.FromSlash(r.File)) {
				claim("%s was recovered to %q, outside the output directory", who, r.File)
			} else if b, err := os.ReadFile(filepath.Join(outDir, filepath.FromSlash(r.File))); err != nil {
				claim("%s was recovered to %q, which cannot be read: %v", who, r.File, err)
			} else {
				rec, haveRec = b, true
				if got := sum(b); got != r.SHA256 || uint64(len(b)) != r.Bytes {
					claim("%s: the manifest says %q holds %d bytes of sha256 %s; it holds %d of sha256 %s", who, r.File, r.Bytes, r.SHA256, len(b), got)
				}
			}
		}
	}
	var truth []byte
	if haveRec || len(mf.Extents) > 0 {
		truth = t.Bytes(te)
	}
	bs := uint64(t.Geometry.BlockSize)
	for _, c := range mf.Extents {
		if c.Verdict != forensics.Intact {
			continue
		}
		what := fmt.Sprintf("%s: the extent of file blocks %d+%d at block %d, called intact,", who, c.FileOffset, c.Blocks, c.StartBlock)
		if why := te.contradicts(c); why != "" {
			claim("%s %s", what, why)
		}
		if !haveRec || bs == 0 {
			continue
		}
		lo := c.FileOffset * bs
		hi := min((c.FileOffset+uint64(c.Blocks))*bs, uint64(te.Size), uint64(len(rec)))
		if lo < hi && !bytes.Equal(rec[lo:hi], truth[lo:hi]) {
			at := lo
			for at < hi && rec[at] == truth[at] {
				at++
			}
			claim("%s was recovered with bytes that are not the file's (bytes %d to %d; the first wrong one at %d)", what, lo, hi, at)
		}
	}
	return haveRec && uint64(len(rec)) == uint64(te.Size) && sum(rec) == te.SHA256
}

// contradicts says how the truth contradicts an intact claim on this
// file's extent: blocks mapped elsewhere or not at all, an unwritten
// extent claimed as data, blocks whose bytes changed since; "" if it
// does not.
func (e *Entry) contradicts(c forensics.ExtentClaim) string {
	end := c.FileOffset + uint64(c.Blocks)
	covered := c.FileOffset
	for _, x := range e.Extents {
		lo, hi := max(x.FileOffset, c.FileOffset), min(x.FileOffset+x.Blocks, end)
		if lo >= hi {
			continue
		}
		if lo > covered {
			return fmt.Sprintf("covers file blocks %d to %d, a hole of the file", covered, lo)
		}
		covered = hi
		want, got := x.StartBlock+(lo-x.FileOffset), c.StartBlock+(lo-c.FileOffset)
		if want != got {
			return fmt.Sprintf("puts file block %d at block %d; it was at block %d", lo, got, want)
		}
		if x.Unwritten != c.Unwritten {
			if x.Unwritten {
				return fmt.Sprintf("takes file blocks %d to %d for data; they were unwritten (preallocated: they read as zeros)", lo, hi)
			}
			return fmt.Sprintf("calls file blocks %d to %d unwritten; they held data", lo, hi)
		}
		for _, ch := range x.Changed {
			a, b := max(ch.Start, want), min(ch.Start+ch.Blocks, want+(hi-lo))
			if a < b {
				by := ""
				if len(x.ReusedBy) > 0 {
					by = " (reused by " + strings.Join(x.ReusedBy, ", ") + ")"
				}
				return fmt.Sprintf("includes blocks %d to %d, which hold other bytes since the deletion%s", a, b, by)
			}
		}
	}
	if covered < end {
		return fmt.Sprintf("covers file blocks %d to %d, past the file's last extent", covered, end)
	}
	return ""
}

// liveWithIno is the live entry with inode ino, if any.
func (t *Truth) liveWithIno(ino uint64) *Entry {
	for _, e := range t.Entries {
		if !e.Deleted && e.Ino == ino {
			return e
		}
	}
	return nil
}

func joinInos(inos []uint64) string {
	s := make([]string, len(inos))
	for i, n := range inos {
		s[i] = fmt.Sprint(n)
	}
	return strings.Join(s, " then ")
}
