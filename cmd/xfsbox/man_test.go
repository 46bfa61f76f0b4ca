package main

import (
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/xfsbox/xfsbox/repair"
	"github.com/xfsbox/xfsbox/repair/store"
)

const manPage = "xfsbox.8"

// globalFlags are the flags run parses by hand, before the command.
var globalFlags = []string{"log-level", "version", "help"}

// roffText strips a roff line of its macro name, quotes and escapes,
// leaving the words it prints (the arguments of an alternating font
// macro such as .BR run together, as printed).
func roffText(line string) string {
	if strings.HasPrefix(line, ".") {
		macro, rest, _ := strings.Cut(line, " ")
		sep := " "
		if len(macro) == 3 && strings.ContainsRune("BIR", rune(macro[1])) && strings.ContainsRune("BIR", rune(macro[2])) {
			sep = ""
		}
		line = strings.Join(roffArgs(rest), sep)
	}
	line = regexp.MustCompile(`\\f[BIRP]|\\&|\\c`).ReplaceAllString(line, "")
	return strings.NewReplacer(`\-`, "-", `\(aq`, "'", `\e`, `\`).Replace(line)
}

// roffArgs splits a macro's arguments: blank-separated, or quoted ("" a
// quote inside quotes).
func roffArgs(s string) []string {
	var args []string
	for s = strings.TrimLeft(s, " "); s != ""; s = strings.TrimLeft(s, " ") {
		if s[0] != '"' {
			arg, rest, _ := strings.Cut(s, " ")
			args, s = append(args, arg), rest
			continue
		}
		var arg strings.Builder
		i := 1
		for ; i < len(s); i++ {
			if s[i] == '"' {
				if i+1 < len(s) && s[i+1] == '"' {
					arg.WriteByte('"')
					i++
					continue
				}
				break
			}
			arg.WriteByte(s[i])
		}
		args, s = append(args, arg.String()), s[min(i+1, len(s)):]
	}
	return args
}

// manSection is the source lines of the .SH or .SS section named name,
// up to the next heading of the same or a higher level.
func manSection(t *testing.T, src, macro, name string) []string {
	t.Helper()
	var out []string
	in := false
	for _, l := range strings.Split(src, "\n") {
		if strings.HasPrefix(l, ".SH ") || (macro == ".SS" && strings.HasPrefix(l, ".SS ")) {
			if in {
				break
			}
			in = strings.HasPrefix(l, macro+" ") && strings.Trim(strings.TrimPrefix(l, macro+" "), `"`) == name
			continue
		}
		if in {
			out = append(out, l)
		}
	}
	if out == nil {
		t.Errorf("%s: no %s %q", manPage, macro, name)
	}
	return out
}

// manItems maps each .TP (or .TQ) tag of a section, as printed, to its
// body, as printed, on one line.
func manItems(section []string) map[string]string {
	items := map[string]string{}
	var tags, body []string
	flush := func() {
		for _, tag := range tags {
			items[tag] = strings.Join(strings.Fields(strings.Join(body, " ")), " ")
		}
		tags, body = nil, nil
	}
	for i := 0; i < len(section); i++ {
		switch l := section[i]; {
		case l == ".TP" || l == ".TQ":
			if l == ".TP" {
				flush()
			}
			if i+1 < len(section) {
				i++
				tags = append(tags, roffText(section[i]))
			}
		case l == ".PP" || l == ".RS" || l == ".RE":
			flush()
		case len(tags) > 0:
			body = append(body, roffText(l))
		}
	}
	flush()
	return items
}

var flagInText = regexp.MustCompile(`--([a-z][a-z-]*)`)

// flagsIn lists the --flags named in the tags of items.
func flagsIn(items map[string]string) []string {
	var names []string
	for tag := range items {
		for _, m := range flagInText.FindAllStringSubmatch(tag, -1) {
			names = append(names, m[1])
		}
	}
	sort.Strings(names)
	return slices.Compact(names)
}

// TestManPage: xfsbox.8 documents every command with every flag its
// FlagSet defines (in its synopsis and as an item of its section), the
// global flags, every structure repair takes, every control verb, every
// mode, every exit code of exit.go with its meaning, and the files.
func TestManPage(t *testing.T) {
	b, err := os.ReadFile(manPage)
	if err != nil {
		t.Fatal(err)
	}
	src := string(b)

	var documented []string
	for _, l := range strings.Split(src, "\n") {
		if name, ok := strings.CutPrefix(l, ".SS "); ok {
			documented = append(documented, name)
		}
	}
	sort.Strings(documented)
	if !slices.Equal(documented, commandNames()) {
		t.Errorf("%s documents commands %v; xfsbox has %v", manPage, documented, commandNames())
	}
	synopsis := strings.Split(strings.Join(manSection(t, src, ".SH", "SYNOPSIS"), "\n"), "\n.br\n")
	for name, flags := range definedFlags() {
		var want []string
		for _, f := range flags {
			want = append(want, f.Name)
		}
		sort.Strings(want)
		if got := flagsIn(manItems(manSection(t, src, ".SS", name))); !slices.Equal(got, want) {
			t.Errorf("%s: %s's section documents flags %v; its FlagSet defines %v", manPage, name, got, want)
		}
		i := slices.IndexFunc(synopsis, func(s string) bool { return strings.HasPrefix(s, ".B xfsbox "+name+"\n") || s == ".B xfsbox "+name })
		if i < 0 {
			t.Errorf("%s: no synopsis line for %s", manPage, name)
			continue
		}
		var words []string
		for _, l := range strings.Split(synopsis[i], "\n") {
			words = append(words, roffText(l))
		}
		for _, f := range want {
			if !strings.Contains(strings.Join(words, " "), "--"+f) {
				t.Errorf("%s: %s's synopsis lacks --%s", manPage, name, f)
			}
		}
	}
	if got, want := flagsIn(manItems(manSection(t, src, ".SH", "GLOBAL OPTIONS"))), slices.Sorted(slices.Values(globalFlags)); !slices.Equal(got, want) {
		t.Errorf("%s: GLOBAL OPTIONS documents %v, want %v", manPage, got, want)
	}

	var structs []string
	for tag := range manItems(manSection(t, src, ".SH", "STRUCTURES")) {
		for _, s := range strings.Split(tag, ",") {
			structs = append(structs, strings.TrimSpace(s))
		}
	}
	if sort.Strings(structs); !slices.Equal(structs, slices.Sorted(slices.Values(repairStructures))) {
		t.Errorf("%s: STRUCTURES documents %v; repair takes %v", manPage, structs, repairStructures)
	}

	ctl := strings.Join(slices.Collect(maps.Keys(manItems(manSection(t, src, ".SH", "CONTROL FILES")))), "\n")
	for _, verb := range append(controlVerbs(t), "repair all", "plan all", "force", "ag=N") {
		if !regexp.MustCompile(`(?m)(^|[\s\[])` + regexp.QuoteMeta(verb) + `($|[\s\]])`).MatchString(ctl) {
			t.Errorf("%s: CONTROL FILES has no item for %q", manPage, verb)
		}
	}
	modes := slices.Sorted(maps.Keys(manItems(manSection(t, src, ".SH", "MODES"))))
	if want := []string{"copy", "plan", "read-only", "sandbox", "write-through"}; !slices.Equal(modes, want) {
		t.Errorf("%s: MODES documents %v, want %v", manPage, modes, want)
	}

	exits := manItems(manSection(t, src, ".SH", "EXIT STATUS"))
	codes := exitCodes(t)
	if len(exits) != len(codes) {
		t.Errorf("%s: EXIT STATUS has %d entries; exit.go defines %d codes", manPage, len(exits), len(codes))
	}
	for n, meaning := range codes {
		if body, ok := exits[strconv.Itoa(n)]; !ok || !strings.Contains(body, meaning) {
			t.Errorf("%s: EXIT STATUS %d is %q; exit.go says %q", manPage, n, body, meaning)
		}
	}

	files := strings.Join(slices.Collect(maps.Keys(manItems(manSection(t, src, ".SH", "FILES")))), "\n")
	for _, suffix := range []string{store.JournalSuffix, store.CommitFileSuffix} {
		if !strings.Contains(files, "IMAGE"+suffix) {
			t.Errorf("%s: FILES lacks IMAGE%s", manPage, suffix)
		}
	}
}

// exitCodes reads exit.go's exit codes and the comments that give
// their meaning.
func exitCodes(t *testing.T) map[int]string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "exit.go", nil, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	codes := map[int]string{}
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, s := range g.Specs {
			vs := s.(*ast.ValueSpec)
			if len(vs.Names) != 1 || !strings.HasPrefix(vs.Names[0].Name, "exit") || len(vs.Values) != 1 {
				continue
			}
			lit, ok := vs.Values[0].(*ast.BasicLit)
			if !ok {
				t.Fatalf("exit.go: %s is not a number", vs.Names[0].Name)
			}
			n, err := strconv.Atoi(lit.Value)
			if err != nil {
				t.Fatal(err)
			}
			if vs.Comment == nil {
				t.Fatalf("exit.go: %s has no comment saying what it means", vs.Names[0].Name)
			}
			codes[n] = strings.TrimSpace(vs.Comment.Text())
		}
	}
	if len(codes) == 0 || codes[exitInternal] == "" || codes[exitUsage] == "" {
		t.Fatalf("exit.go: exit codes not found: %v", codes)
	}
	return codes
}

// controlVerbs reads the verbs the control files take from the first
// switch of fusefs/control.go's parse.
func controlVerbs(t *testing.T) []string {
	t.Helper()
	lits := funcCaseStrings(t, filepath.Join(repoRoot(t), "fusefs", "control.go"), "parse", true)
	if len(lits) == 0 {
		t.Fatal("fusefs/control.go: no verbs found in parse")
	}
	return lits
}

// funcCaseStrings lists the string literals of the case clauses in the
// function fn of the Go file path (of its first switch only, if first),
// and those passed to slices.Contains.
func funcCaseStrings(t *testing.T, path, fn string, first bool) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	addLit := func(e ast.Expr) {
		if lit, ok := e.(*ast.BasicLit); ok && lit.Kind == token.STRING {
			s, _ := strconv.Unquote(lit.Value)
			out = append(out, s)
		}
	}
	for _, d := range f.Decls {
		fd, ok := d.(*ast.FuncDecl)
		if !ok || fd.Name.Name != fn {
			continue
		}
		switches := 0
		ast.Inspect(fd.Body, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.SwitchStmt:
				switches++
				return !first || switches == 1
			case *ast.CaseClause:
				for _, e := range n.List {
					addLit(e)
				}
			case *ast.CallExpr:
				if sel, ok := n.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "Contains" && len(n.Args) == 2 {
					if x, ok := sel.X.(*ast.Ident); ok && x.Name == "slices" {
						addLit(n.Args[1])
					}
				}
			}
			return true
		})
	}
	return out
}

// TestRepairStructuresAccepted: every name repair offers is one the
// engine parses, and the engine refuses a name it does not offer.
func TestRepairStructuresAccepted(t *testing.T) {
	for _, n := range repairStructures {
		if s, err := repair.ParseStructures([]string{n}); err != nil || s.String() != n {
			t.Errorf("ParseStructures(%q) = %v, %v", n, s, err)
		}
	}
	if _, err := repair.ParseStructures([]string{"inode"}); !errors.Is(err, repair.ErrUnknownStruct) {
		t.Errorf("ParseStructures(inode) = %v, want ErrUnknownStruct", err)
	}
}

// TestManPageRenders: man (or groff) formats xfsbox.8 without a
// warning.
func TestManPageRenders(t *testing.T) {
	ran := false
	for _, c := range [][]string{
		{"man", "--warnings", "-l", manPage},
		{"groff", "-man", "-ww", "-z", manPage},
	} {
		if _, err := exec.LookPath(c[0]); err != nil {
			continue
		}
		ran = true
		cmd := exec.Command(c[0], c[1:]...)
		cmd.Env = append(os.Environ(), "MANWIDTH=80", "MANPAGER=cat", "PAGER=cat")
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil || stderr.Len() > 0 {
			t.Errorf("%v: %v\n%s", c, err, stderr.String())
		}
	}
	if !ran {
		t.Skip("neither man nor groff installed")
	}
}
