package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestMakeInstall: make install puts the binary, the man page and the
// bash completion under $(DESTDIR)$(PREFIX), and make uninstall takes
// them away again.
func TestMakeInstall(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "xfsbox")
	for _, c := range []struct{ prefix, want string }{
		{"", "/usr/local"}, // the default
		{"/usr", "/usr"},
	} {
		destdir := t.TempDir()
		args := []string{"BIN=" + bin, "DESTDIR=" + destdir}
		if c.prefix != "" {
			args = append(args, "PREFIX="+c.prefix)
		}
		runMake(t, append([]string{"install"}, args...)...)
		files := map[string]struct {
			src  string
			mode os.FileMode
		}{
			"bin/xfsbox":                               {bin, 0o755},
			"share/man/man8/xfsbox.8":                  {manPage, 0o644},
			"share/bash-completion/completions/xfsbox": {completionScript, 0o644},
		}
		for rel, f := range files {
			p := filepath.Join(destdir, c.want, rel)
			st, err := os.Stat(p)
			if err != nil {
				t.Errorf("make install %v: %v", args, err)
				continue
			}
			if st.Mode().Perm() != f.mode {
				t.Errorf("%s: mode %v, want %v", p, st.Mode().Perm(), f.mode)
			}
			if !bytes.Equal(readFile(t, p), readFile(t, f.src)) {
				t.Errorf("%s differs from %s", p, f.src)
			}
		}
		if out, err := exec.Command(filepath.Join(destdir, c.want, "bin/xfsbox"), "--version").CombinedOutput(); err != nil || !strings.HasPrefix(string(out), "xfsbox ") {
			t.Errorf("installed xfsbox --version: %v\n%s", err, out)
		}
		runMake(t, append([]string{"uninstall"}, args...)...)
		for rel := range files {
			if _, err := os.Stat(filepath.Join(destdir, c.want, rel)); !os.IsNotExist(err) {
				t.Errorf("make uninstall %v left %s (%v)", args, rel, err)
			}
		}
	}
	help := runMake(t, "help")
	for _, target := range []string{"make install", "make uninstall"} {
		if !strings.Contains(help, target) {
			t.Errorf("make help does not list %s:\n%s", target, help)
		}
	}
}

func readFile(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
