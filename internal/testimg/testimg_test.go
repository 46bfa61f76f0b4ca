package testimg

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// fakeTB records what Require does instead of stopping the test.
type fakeTB struct {
	testing.TB
	skipped, failed bool
	msg             string
}

func (f *fakeTB) Helper()          {}
func (f *fakeTB) Skip(args ...any) { f.skipped = true; f.msg = strings.TrimSpace(fmt.Sprint(args...)) }
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.failed = true
	f.msg = fmt.Sprintf(format, args...)
}

func TestRequireUnknownAndCI(t *testing.T) {
	t.Setenv("CI", "")
	f := &fakeTB{TB: t}
	Require(f, "no-such-thing")
	if !f.skipped || !strings.Contains(f.msg, "unknown requirement") {
		t.Errorf("skipped=%v msg=%q", f.skipped, f.msg)
	}
	t.Setenv("CI", "true")
	f = &fakeTB{TB: t}
	Require(f, "no-such-thing")
	if !f.failed || f.skipped || !strings.Contains(f.msg, "CI=true") {
		t.Errorf("under CI: failed=%v skipped=%v msg=%q", f.failed, f.skipped, f.msg)
	}
	f = &fakeTB{TB: t}
	Require(f) // nothing asked, nothing missing
	if f.failed || f.skipped {
		t.Errorf("empty Require stopped the test: %q", f.msg)
	}
}

func TestRequireRootMessage(t *testing.T) {
	if os.Geteuid() == 0 {
		if why := check("root"); why != "" {
			t.Errorf("root reported missing: %s", why)
		}
		return
	}
	if why := check("root"); !strings.Contains(why, "uid") {
		t.Errorf("check(root) = %q", why)
	}
}

func TestCacheName(t *testing.T) {
	a := cacheName([]byte("script"), "1k")
	if a != cacheName([]byte("script"), "1k") {
		t.Fatal("not deterministic")
	}
	if a == cacheName([]byte("script2"), "1k") || a == cacheName([]byte("script"), "4ksector") {
		t.Fatal("key ignores its inputs")
	}
	if !strings.HasPrefix(a, "1k-") || len(a) != len("1k-")+16 {
		t.Fatalf("name %q", a)
	}
}

func TestRepoRoot(t *testing.T) {
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "testdata", "mkimage.sh")); err != nil {
		t.Fatal(err)
	}
}

func TestReadHashes(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x.sha256")
	sum := strings.Repeat("ab", 32)
	os.WriteFile(p, []byte(sum+"  ag0/hello.txt\n"+sum+" *bin mode\n"+sum+"  name with  spaces\n"), 0o644)
	m, err := ReadHashes(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(m) != 3 || m["ag0/hello.txt"] != sum || m["bin mode"] != sum || m["name with  spaces"] != sum {
		t.Fatalf("%q", m)
	}
	os.WriteFile(p, []byte("nonsense\n"), 0o644)
	if _, err := ReadHashes(p); err == nil {
		t.Fatal("accepted nonsense")
	}
}

func TestProfiles(t *testing.T) {
	for _, p := range Profiles() {
		if p == "bench" || isV4(p) {
			t.Errorf("%s in the matrix", p)
		}
		if !knownProfile(p) {
			t.Errorf("%s unknown", p)
		}
	}
	for _, p := range FixtureProfiles() {
		if !knownProfile(p) {
			t.Errorf("fixture profile %s unknown", p)
		}
	}
	if knownProfile("nonsense") {
		t.Error("nonsense known")
	}
	// Every profile of both matrices is one the generator builds.
	_, script, err := generator("allfeatures")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range append(Profiles(), WildProfiles()...) {
		if !strings.Contains(string(script), "\n"+p+")") {
			t.Errorf("testdata/mkimage.sh has no case for profile %s", p)
		}
	}
	for _, p := range WildSample() {
		if !slices.Contains(WildProfiles(), p) {
			t.Errorf("wild sample profile %s is not in WildProfiles", p)
		}
	}
	// The v4 profiles are mkv4.sh's, keyed by it alone.
	for _, p := range V4Profiles() {
		path, v4script, err := generator(p)
		if err != nil {
			t.Fatal(err)
		}
		if !knownProfile(p) || filepath.Base(path) != "mkv4.sh" || !strings.Contains(string(v4script), "\n"+p+")") {
			t.Errorf("profile %s: known %v, generator %s, or no case in it", p, knownProfile(p), path)
		}
		if cacheName(v4script, p) == cacheName(script, p) {
			t.Errorf("profile %s: keyed by mkimage.sh", p)
		}
	}
}

// TestRemoveStaleOtherProfile: the stale entries of profile "v4" are not
// those of "v4-1k", whose names share the prefix.
func TestRemoveStaleOtherProfile(t *testing.T) {
	dir := t.TempDir()
	keep, other := "v4-0000000000000001", "v4-1k-0000000000000002"
	for _, n := range []string{keep, other} {
		for _, ext := range []string{".img", ".lock"} {
			if err := os.WriteFile(filepath.Join(dir, n+ext), []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	RemoveStale(dir, "v4", keep)
	for _, n := range []string{keep, other} {
		if _, err := os.Stat(filepath.Join(dir, n+".img")); err != nil {
			t.Errorf("%s removed: %v", n, err)
		}
	}
}

// TestRemoveStaleSparesHeld: an image of an older generator is removed
// only when no process holds it (HoldCache's shared lock): a campaign that
// still restores from it keeps it, whatever another test binary builds.
func TestRemoveStaleSparesHeld(t *testing.T) {
	dir := t.TempDir()
	keep, stale := "p-0000000000000001", "p-0000000000000002"
	for _, n := range []string{keep, stale} {
		for _, ext := range []string{".img", ".img.sha256", ".truth.json", ".lock"} {
			if err := os.WriteFile(filepath.Join(dir, n+ext), []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	HoldCache(t, dir, stale)
	RemoveStale(dir, "p", keep)
	if _, err := os.Stat(filepath.Join(dir, stale+".img")); err != nil {
		t.Fatalf("a held stale image was removed: %v", err)
	}
	f, _ := held.LoadAndDelete(filepath.Join(dir, stale+".lock"))
	f.(*os.File).Close()
	RemoveStale(dir, "p", keep)
	for _, ext := range []string{".img", ".img.sha256", ".truth.json", ".lock"} {
		if _, err := os.Stat(filepath.Join(dir, stale+ext)); !os.IsNotExist(err) {
			t.Fatalf("an unheld stale entry's %s was kept: %v", ext, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, keep+".img")); err != nil {
		t.Fatalf("the current image was removed: %v", err)
	}
}
