package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/xfsbox/xfsbox/internal/testimg"
)

// TestVersion: --version and the version command print the version
// and exit 0; the top-level --help mentions --version.
func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"--version"}, {"version"}, {"--log-level", "info", "version"}} {
		out, errOut, code := runCLI(args...)
		if code != exitOK || !strings.HasPrefix(out, "xfsbox ") || !strings.Contains(out, "revision ") {
			t.Errorf("xfsbox %v: exit %d, stdout %q, stderr %q", args, code, out, errOut)
		}
	}
	if _, _, code := runCLI("version", "extra"); code != exitUsage {
		t.Errorf("version extra: exit %d, want %d", code, exitUsage)
	}
	if out, _, _ := runCLI("--help"); !strings.Contains(out, "--version") {
		t.Errorf("--help does not mention --version:\n%s", out)
	}
}

// TestVersionFromMake: the binary make builds names the commit it was
// built from, and says (modified) when the tree had changes.
func TestVersionFromMake(t *testing.T) {
	bin := makeBuild(t)
	root := repoRoot(t)
	status := func() string {
		out, err := exec.Command("git", "-C", root, "status", "--porcelain").Output()
		if err != nil {
			t.Skipf("git status: %v", err)
		}
		return string(out)
	}
	before := status() // makeBuild has built already: the tree may change while it runs, so this is judged loosely
	out, err := exec.Command(bin, "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("%s --version: %v\n%s", bin, err, out)
	}
	m := regexp.MustCompile(`(?m)^revision ([0-9a-f]{40})( \(modified\))?$`).FindStringSubmatch(string(out))
	if m == nil {
		t.Fatalf("no revision line in:\n%s", out)
	}
	if err := exec.Command("git", "-C", root, "cat-file", "-e", m[1]+"^{commit}").Run(); err != nil {
		t.Errorf("revision %s is not a commit of this repository", m[1])
	}
	if after := status(); before == after && (after != "") != (m[2] != "") {
		t.Errorf("git status %q but --version says %q", after, m[0])
	}
	if !regexp.MustCompile(`(?m)^xfsbox v\S+$`).Match(out) {
		t.Errorf("no module version in:\n%s", out)
	}
}

// repoRoot is the module's root directory.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := testimg.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// makeBuild builds xfsbox with the Makefile's build target into a
// temporary directory (once per test process) and returns its path.
func makeBuild(t *testing.T) string {
	t.Helper()
	if madeBinary != "" {
		return madeBinary
	}
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make not installed")
	}
	dir, err := os.MkdirTemp("", "xfsbox-make")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "xfsbox")
	if out, err := exec.Command("make", "-s", "-C", repoRoot(t), "build", "BIN="+bin).CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		t.Fatalf("make build: %v\n%s", err, out)
	}
	madeBinary = bin
	return bin
}

var madeBinary string
