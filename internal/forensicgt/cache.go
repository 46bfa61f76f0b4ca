package forensicgt

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xfsbox/xfsbox/internal/testimg"
)

// Cached returns the truth of spec, its image generated once per machine
// into testimg's cache (testimg.CacheDir: $XFSBOX_IMAGE_CACHE or
// testdata/cache) as forensic-<spec key>-<generator hash>.img beside
// its .truth.json, under testimg's cache lock. The generator hash covers
// this package's source, so a change to the generator makes new images
// (and the old ones of the spec are removed when no one holds them).
// The image is shared: never write to it (mount a copy). Generating
// needs root, loop devices and xfsprogs (testimg.Require: under CI=true
// their absence fails the test).
func Cached(t testing.TB, spec Spec) *Truth {
	t.Helper()
	testimg.Require(t, "xfsprogs")
	spec, err := spec.Normalize()
	if err != nil {
		t.Fatal(err)
	}
	gen, err := generatorHash()
	if err != nil {
		t.Fatalf("forensicgt: %v", err)
	}
	dir, err := testimg.CacheDir()
	if err != nil {
		t.Fatalf("forensicgt: %v", err)
	}
	prefix := "forensic-" + spec.Key()
	name := prefix + "-" + gen
	truthPath := filepath.Join(dir, name+".truth.json")
	if _, err := os.Stat(truthPath); err != nil {
		build(t, spec, dir, name)
	}
	testimg.HoldCache(t, dir, name)
	tr, err := Load(truthPath)
	if err != nil {
		t.Fatalf("forensicgt: %v", err)
	}
	return tr
}

// build generates the entry name of dir under its lock, in tmpfs where
// there is one, then moves the image and the truth in (the truth last:
// its presence says the entry is whole).
func build(t testing.TB, spec Spec, dir, name string) {
	t.Helper()
	testimg.Require(t, "root", "xfsprogs", "loop")
	unlock, err := testimg.CacheLock(dir, name)
	if err != nil {
		t.Fatalf("forensicgt: %v", err)
	}
	defer unlock()
	truthPath := filepath.Join(dir, name+".truth.json")
	if _, err := os.Stat(truthPath); err == nil {
		return // built by another process meanwhile
	}
	work := testimg.TmpfsDir(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	tr, err := Generate(ctx, work, spec)
	if err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(dir, name+".img")
	if out, err := exec.Command("cp", "--sparse=always", tr.ImagePath(), img+".tmp").CombinedOutput(); err != nil {
		t.Fatalf("forensicgt: copying the image: %v\n%s", err, out)
	}
	if err := os.Rename(img+".tmp", img); err != nil {
		t.Fatal(err)
	}
	os.Chmod(img, 0o444)
	tr.Image = filepath.Base(img)
	if err := tr.Save(truthPath + ".tmp"); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(truthPath+".tmp", truthPath); err != nil {
		t.Fatal(err)
	}
	t.Logf("forensicgt: generated %s in %.1fs: %s", spec, tr.Seconds, img)
	testimg.RemoveStale(dir, "forensic-"+spec.Key(), name)
}

// generatorHash is the first 16 hex digits of the sha256 of this
// package's non-test source files.
func generatorHash() (string, error) {
	root, err := testimg.RepoRoot()
	if err != nil {
		return "", err
	}
	files, err := filepath.Glob(filepath.Join(root, "internal", "forensicgt", "*.go"))
	if err != nil {
		return "", err
	}
	slices.Sort(files)
	h := sha256.New()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			return "", err
		}
		h.Write([]byte(filepath.Base(f)))
		h.Write([]byte{0})
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}
