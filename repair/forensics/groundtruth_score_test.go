package forensics_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xfsbox/xfsbox/internal/forensicgt"
	"github.com/xfsbox/xfsbox/internal/testimg"
	"github.com/xfsbox/xfsbox/repair/forensics"
	"github.com/xfsbox/xfsbox/repair/fsys"
)

// recoverScored examines the truth's image read-only, recovers into a
// temporary directory and scores the manifest against the truth. The
// image must hash the same before and after.
func recoverScored(t *testing.T, tr *forensicgt.Truth) forensicgt.Score {
	t.Helper()
	img := tr.ImagePath()
	before := testimg.FileSum(t, img)
	fs, err := fsys.Open(img, fsys.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fs.Close() })
	ex, err := forensics.Examine(context.Background(), fs, forensics.Options{})
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out")
	if err := ex.Recover(context.Background(), out); err != nil {
		t.Fatal(err)
	}
	if err := ex.WriteManifest(out); err != nil {
		t.Fatal(err)
	}
	if after := testimg.FileSum(t, img); after != before {
		t.Fatal("the examination changed the image")
	}
	sc := tr.Score(&ex.Manifest, out)
	t.Logf("\n%s\n%s", forensicgt.ScoreHeader(), sc.Report())
	if len(sc.FalseClaims) > 0 {
		if os.Getenv("XFSBOX_KEEP") != "" {
			t.Logf("kept: %s", out)
		}
		t.Errorf("%d false claims:\n%s", len(sc.FalseClaims), strings.Join(sc.FalseClaims[:min(len(sc.FalseClaims), 30)], "\n"))
	}
	return sc
}

// TestGroundTruth holds the recovery to issue 17's targets on the
// generator's images: where the log still holds the deletions, at least
// 95% of the deleted regular files recovered byte-exact with their
// paths; after the log has wrapped, names for at least 90% of the
// deleted entries; zero false claims everywhere (with and without
// rmapbt, and on an aged image that reused the freed space).
func TestGroundTruth(t *testing.T) {
	testimg.Require(t, "root", "loop", "xfsprogs")
	for _, c := range []struct {
		name              string
		spec              forensicgt.Spec
		byteExact, naming float64
	}{
		{"fresh", forensicgt.Spec{}, 95, 90},
		{"fresh-rmapbt", forensicgt.Spec{Rmapbt: true}, 95, 90},
		{"wrapped", forensicgt.Spec{Variant: forensicgt.Wrapped}, 0, 90},
		{"aged-rmapbt", forensicgt.Spec{Variant: forensicgt.Aged, Rmapbt: true}, 0, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			sc := recoverScored(t, forensicgt.Cached(t, c.spec))
			if sc.ByteExactPercent() < c.byteExact {
				t.Errorf("byte-exact %.1f%% of deleted regular files, want at least %.0f%%", sc.ByteExactPercent(), c.byteExact)
			}
			if named := 100 * float64(sc.NamedFiles) / float64(max(sc.DeletedFiles, 1)); c.byteExact > 0 && named < c.byteExact {
				t.Errorf("paths for %.1f%% of deleted regular files, want at least %.0f%%", named, c.byteExact)
			}
			if sc.NamesPercent() < c.naming {
				t.Errorf("names for %.1f%% of deleted entries, want at least %.0f%%", sc.NamesPercent(), c.naming)
			}
		})
	}
}

// TestGroundTruthTable writes the score table of every variant (with
// and without rmapbt, 4 KiB and 1 KiB blocks) to
// $XFSBOX_FORENSICS_TABLE, holding each row to no false claim; it runs
// only when that is set (the README's table is made by it).
func TestGroundTruthTable(t *testing.T) {
	out := os.Getenv("XFSBOX_FORENSICS_TABLE")
	if out == "" {
		t.Skip("set XFSBOX_FORENSICS_TABLE=FILE to write the table")
	}
	testimg.Require(t, "root", "loop", "xfsprogs")
	rows := []string{forensicgt.ScoreHeader()}
	for _, v := range []forensicgt.Variant{forensicgt.Fresh, forensicgt.Wrapped, forensicgt.Aged} {
		for _, rmap := range []bool{false, true} {
			for _, bs := range []int{4096, 1024} {
				spec := forensicgt.Spec{Variant: v, Rmapbt: rmap, BlockSize: bs}
				t.Run(fmt.Sprintf("%s-rmap=%v-%d", v, rmap, bs), func(t *testing.T) {
					rows = append(rows, recoverScored(t, forensicgt.Cached(t, spec)).String())
				})
			}
		}
	}
	if err := os.WriteFile(out, []byte(strings.Join(rows, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}
