package main

import (
	"go/ast"
	"go/build"
	"go/parser"
	"go/token"
	"io/fs"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// runMake runs make in the repository's root and returns its output.
func runMake(t *testing.T, args ...string) string {
	t.Helper()
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make not installed")
	}
	out, err := exec.Command("make", append([]string{"-s", "--no-print-directory", "-C", repoRoot(t)}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("make %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// TestMakeFuzzListsEveryTarget: make fuzz-list, which make fuzz runs,
// names every fuzz target of the module: every func FuzzX(*testing.F)
// in a test file the default build includes, in any package.
func TestMakeFuzzListsEveryTarget(t *testing.T) {
	root := repoRoot(t)
	var want []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if p != root && (name == "testdata" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, "_test.go") {
			return nil
		}
		if ok, err := build.Default.MatchFile(filepath.Dir(p), name); err != nil || !ok {
			return err
		}
		f, err := parser.ParseFile(token.NewFileSet(), p, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, filepath.Dir(p))
		pkg := "github.com/xfsbox/xfsbox"
		if rel != "." {
			pkg += "/" + filepath.ToSlash(rel)
		}
		for _, fn := range fuzzFuncs(f) {
			want = append(want, pkg+" "+fn)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(want)
	got := lines(runMake(t, "fuzz-list"))
	slices.Sort(got)
	if len(want) == 0 || !slices.Equal(got, want) {
		t.Errorf("make fuzz-list lists\n%s\nthe module's fuzz targets are\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// fuzzFuncs names the fuzz targets a test file defines: FuzzX(*testing.F).
func fuzzFuncs(f *ast.File) []string {
	var names []string
	for _, d := range f.Decls {
		fd, ok := d.(*ast.FuncDecl)
		if !ok || fd.Recv != nil || !strings.HasPrefix(fd.Name.Name, "Fuzz") || len(fd.Type.Params.List) != 1 {
			continue
		}
		star, ok := fd.Type.Params.List[0].Type.(*ast.StarExpr)
		if !ok {
			continue
		}
		if sel, ok := star.X.(*ast.SelectorExpr); ok && sel.Sel.Name == "F" {
			names = append(names, fd.Name.Name)
		}
	}
	return names
}
