package main

import (
	"flag"
	"sort"
	"strings"
	"testing"
)

// commandNames lists every registered command, sorted.
func commandNames() []string {
	var names []string
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// definedFlags is every flag each command's FlagSet defines: the
// source of truth --help, the man page and the completion follow.
func definedFlags() map[string][]*flag.Flag {
	m := map[string][]*flag.Flag{}
	for _, n := range commandNames() {
		m[n] = nil
		commandFlags(commands[n]).VisitAll(func(f *flag.Flag) { m[n] = append(m[n], f) })
	}
	return m
}

// TestHelpListsEveryFlag: each command's --help and usage line name
// every flag its FlagSet defines, with its help text.
func TestHelpListsEveryFlag(t *testing.T) {
	for name, flags := range definedFlags() {
		out, errOut, code := runCLI(name, "--help")
		if code != exitOK {
			t.Fatalf("%s --help: exit %d, %s", name, code, errOut)
		}
		if len(flags) > 0 && !strings.Contains(commands[name].help, flagsMarker) {
			t.Errorf("%s: help text has flags but no %q to render them", name, flagsMarker)
		}
		for _, f := range flags {
			_, usage := flag.UnquoteUsage(f)
			if usage == "" {
				t.Errorf("%s --%s: no help text", name, f.Name)
			}
			first, _, _ := strings.Cut(usage, "\n")
			if !strings.Contains(out, "--"+f.Name) || !strings.Contains(out, first) {
				t.Errorf("%s --help does not list --%s (%q):\n%s", name, f.Name, first, out)
			}
			if !strings.Contains(commands[name].usage, "--"+f.Name) {
				t.Errorf("%s: usage line %q lacks --%s", name, commands[name].usage, f.Name)
			}
		}
	}
}

// TestHelpSharedFlagsSameText: a flag several commands define has one
// help text (the helpers in flags.go), apart from a parameter such as
// --json's schema.
func TestHelpSharedFlagsSameText(t *testing.T) {
	texts := map[string]map[string]string{} // flag -> text -> command
	for name, flags := range definedFlags() {
		for _, f := range flags {
			if texts[f.Name] == nil {
				texts[f.Name] = map[string]string{}
			}
			texts[f.Name][f.Usage] = name
		}
	}
	for _, shared := range []string{"scratch-dir", "max-workspace"} {
		if len(texts[shared]) != 1 {
			t.Errorf("--%s has %d help texts: %v", shared, len(texts[shared]), texts[shared])
		}
	}
	for text := range texts["json"] {
		if !strings.HasPrefix(text, "print the result as JSON (schema ") {
			t.Errorf("--json text %q not from jsonFlag", text)
		}
	}
	for text := range texts["ag"] {
		if !strings.HasPrefix(text, "only AG `N` (default: every AG") {
			t.Errorf("--ag text %q not from agFlag", text)
		}
	}
}
