package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/xfsbox/xfsbox/internal/testimg"
)

const completionScript = "xfsbox.bash-completion"

// complete sources the completion script in bash, in dir, and returns
// what _xfsbox offers for words (the last one is the word completed).
func complete(t *testing.T, dir string, words ...string) []string {
	t.Helper()
	script, err := filepath.Abs(completionScript)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", "--norc", "--noprofile", "-c", `
source "$1" || exit 1
complete -p xfsbox >/dev/null || exit 1
shift
COMP_WORDS=("$@")
COMP_CWORD=$(($# - 1))
COMP_LINE="$*"
COMP_POINT=${#COMP_LINE}
_xfsbox
printf '%s\n' "${COMPREPLY[@]}"`, "bash", script)
	cmd.Args = append(cmd.Args, words...)
	cmd.Dir = dir
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || stderr.Len() > 0 {
		t.Fatalf("completing %q: %v\n%s", words, err, stderr.String())
	}
	var got []string
	for _, l := range strings.Split(string(out), "\n") {
		if l != "" {
			got = append(got, l)
		}
	}
	slices.Sort(got)
	return got
}

func sorted(s ...string) []string { return slices.Sorted(slices.Values(s)) }

// TestCompletion: the bash completion parses, offers the commands,
// exactly every flag each command's FlagSet defines (and --help), knows
// which flags take a value, offers the structures repair takes, image
// files, mount points and view paths.
func TestCompletion(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("bash not installed")
	}
	if out, err := exec.Command("bash", "-n", completionScript).CombinedOutput(); err != nil {
		t.Fatalf("bash -n %s: %v\n%s", completionScript, err, out)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "disk.img"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "mnt"), 0o755); err != nil {
		t.Fatal(err)
	}
	empty := t.TempDir()
	check := func(dir string, want []string, words ...string) {
		t.Helper()
		if got := complete(t, dir, words...); !slices.Equal(got, want) {
			t.Errorf("completing %q: got %q, want %q", words, got, want)
		}
	}

	check(dir, []string{"recover", "repair"}, "xfsbox", "re")
	check(dir, []string{"repair"}, "xfsbox", "rep")
	check(dir, sorted(append(commandNames(), "help")...), "xfsbox", "")
	check(dir, []string{"--force", "--full-scan"}, "xfsbox", "repair", "--f")
	check(dir, []string{"--force", "--full-scan"}, "xfsbox", "--log-level", "info", "repair", "disk.img", "--f")
	check(dir, []string{"check"}, "xfsbox", "--log-level", "debug", "ch")
	check(dir, []string{"debug"}, "xfsbox", "--log-level", "d")
	check(dir, []string{"debug"}, "xfsbox", "--log-level", "=", "d")
	check(dir, sorted(globalFlagsDashed()...), "xfsbox", "-")
	check(dir, []string{"repair"}, "xfsbox", "help", "rep")

	for name, flags := range definedFlags() {
		want := []string{"--help"}
		for _, f := range flags {
			want = append(want, "--"+f.Name)
			// A value must follow a flag that takes one: "-" there is
			// no flag. After a bool flag, "-" starts the next flag.
			after := complete(t, empty, "xfsbox", name, "--"+f.Name, "-")
			if isBoolFlag(f) != slices.Contains(after, "--help") {
				t.Errorf("%s --%s (bool %v): completing the next word gives %q", name, f.Name, isBoolFlag(f), after)
			}
		}
		check(dir, sorted(want...), "xfsbox", name, "-")
	}

	structures := sorted(repairStructures...)
	check(dir, structures, "xfsbox", "repair", "disk.img", "")
	check(dir, structures, "xfsbox", "repair", "--ag", "3", "disk.img", "bnobt", "")
	check(dir, []string{"refcountbt", "rmapbt"}, "xfsbox", "repair", "--output", "new.img", "disk.img", "r")
	check(dir, []string{"disk.img"}, "xfsbox", "repair", "--ag", "3", "d")
	check(dir, []string{"disk.img"}, "xfsbox", "check", "--ag=3", "d")
	check(dir, []string{"disk.img", "mnt"}, "xfsbox", "check", "")
	check(dir, []string{"mnt"}, "xfsbox", "mount", "--sandbox", "disk.img", "")
	check(dir, []string{"mnt"}, "xfsbox", "mount", "--scratch-dir", "")
	check(dir, []string{"mnt"}, "xfsbox", "mount", "--scratch-dir", "=", "")
	check(dir, nil, "xfsbox", "version", "")

	// View paths come from "xfsbox dump IMAGE DIR/": a stand-in xfsbox
	// answers for the directories of a tiny tree.
	fake := filepath.Join(dir, "fake-xfsbox")
	if err := os.WriteFile(fake, []byte(`#!/bin/sh
[ "$1 $2 $3" = "dump -- disk.img" ] || exit 2
case $4 in
"") printf 'README\nag/\ngeometry\n' ;;
ag/) printf '0/\n1/\n' ;;
*) exit 5 ;;
esac
`), 0o755); err != nil {
		t.Fatal(err)
	}
	check(dir, []string{"README", "ag/", "geometry"}, fake, "dump", "disk.img", "")
	check(dir, []string{"ag/"}, fake, "dump", "disk.img", "a")
	check(dir, []string{"ag/0/", "ag/1/"}, fake, "dump", "disk.img", "ag/")
	check(dir, nil, fake, "dump", "disk.img", "nothing/")
}

func globalFlagsDashed() []string {
	var s []string
	for _, f := range globalFlags {
		s = append(s, "--"+f)
	}
	return s
}

// TestCompletionViewPaths completes view paths with the real xfsbox
// and image.
func TestCompletionViewPaths(t *testing.T) {
	img := testimg.Image(t, "allfeatures")
	bin := buildBinary(t)
	got := complete(t, t.TempDir(), bin, "dump", img, "ag/0/b")
	if !slices.Contains(got, "ag/0/bnobt/") || slices.ContainsFunc(got, func(s string) bool { return !strings.HasPrefix(s, "ag/0/b") }) {
		t.Errorf("completing ag/0/b: %q", got)
	}
	if got := complete(t, t.TempDir(), bin, "dump", img, "ag/0/ag"); !slices.Equal(got, []string{"ag/0/agf", "ag/0/agf.json", "ag/0/agf.raw", "ag/0/agfl", "ag/0/agfl.json", "ag/0/agfl.raw", "ag/0/agi", "ag/0/agi.json", "ag/0/agi.raw"}) {
		t.Errorf("completing ag/0/ag: %q", got)
	}
}
