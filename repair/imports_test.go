package repair_test

import (
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// layers is the README's Layout table, bottom up: each package's own
// code imports, of the project, only packages before it. So xfsformat
// imports nothing of the project, repair/store nothing but xfsformat (and
// the workspace, for a metadump's index),
// repair/fsys (the filesystem as read) neither check nor repair,
// repair/check (the findings) not repair (the rebuilds), and nothing of
// the engine imports fusefs or cmd. Packages under internal/ are test
// helpers, outside the order; the packages above import none of them.
var layers = []string{
	"xfsformat",
	"xfsformat/dinode",
	"xfsformat/da",
	"xfsformat/dir",
	"xfsformat/attr",
	"xfsformat/log",
	"xfsformat/metadump",
	"repair/workspace",
	"repair/store",
	"repair/fsys",
	"repair/replay",
	"repair/check",
	"repair/forensics/history",
	"repair/forensics",
	"repair",
	"repair/view",
	"fusefs",
	"cmd/xfsbox",
}

const module = "github.com/xfsbox/xfsbox"

// TestImports holds the project to its one-way import order (layers),
// keeps go-fuse in fusefs and cmd and logrus in cmd (the packages below
// it log, where they must, through log/slog). It reads the imports of every package's
// non-test code from go list.
func TestImports(t *testing.T) {
	out, err := exec.Command("go", "list", "-json=ImportPath,Imports", module+"/...").Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("go list: %v\n%s", err, ee.Stderr)
		}
		t.Fatalf("go list: %v", err)
	}
	under := func(p, dir string) bool { return p == dir || strings.HasPrefix(p, dir+"/") }
	dec := json.NewDecoder(strings.NewReader(string(out)))
	seen := 0
	for {
		var pkg struct {
			ImportPath string
			Imports    []string
		}
		if err := dec.Decode(&pkg); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		seen++
		p := strings.TrimPrefix(pkg.ImportPath, module+"/")
		at := slices.Index(layers, p)
		if at < 0 && !under(p, "internal") {
			t.Errorf("%s is in no layer: add it to layers and to the README's Layout table", p)
		}
		for _, imp := range pkg.Imports {
			switch {
			case under(imp, "github.com/hanwen/go-fuse"):
				if !under(p, "fusefs") && !under(p, "cmd") {
					t.Errorf("%s imports %s: go-fuse belongs to fusefs and cmd", p, imp)
				}
			case under(imp, "github.com/sirupsen/logrus"):
				if !under(p, "cmd") {
					t.Errorf("%s imports %s: only cmd logs through logrus (below it, log/slog)", p, imp)
				}
			case under(imp, module) && at >= 0:
				q := strings.TrimPrefix(imp, module+"/")
				if i := slices.Index(layers, q); i < 0 || i >= at {
					below := strings.Join(layers[:at], ", ")
					if at == 0 {
						below = "nothing"
					}
					t.Errorf("%s imports %s: imports go one way, and %s may import of the project only %s", p, q, p, below)
				}
			}
		}
	}
	if seen < len(layers) {
		t.Fatalf("go list named %d packages, fewer than the %d layers", seen, len(layers))
	}
}
