package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/xfsbox/xfsbox/fusefs"
	"github.com/xfsbox/xfsbox/internal/testimg"
	"github.com/xfsbox/xfsbox/repair/fsys"
	"github.com/xfsbox/xfsbox/repair/view"
)

// envelopeBody reads one machine output: it must start with "schema":
// "xfsbox.<kind>" and then "schema_version": view.SchemaVersion. It
// returns the body's keys in their order and their values.
func envelopeBody(t *testing.T, what string, out []byte, kind string) ([]string, map[string]json.RawMessage) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(out))
	dec.UseNumber()
	tok := func() json.Token {
		t.Helper()
		tk, err := dec.Token()
		if err != nil {
			t.Fatalf("%s: %v\n%s", what, err, out)
		}
		return tk
	}
	if d, ok := tok().(json.Delim); !ok || d != '{' {
		t.Fatalf("%s: not a JSON object:\n%s", what, out)
	}
	if k, v := tok(), tok(); k != "schema" || v != "xfsbox."+kind {
		t.Fatalf("%s: first key %v = %v, want schema = xfsbox.%s\n%s", what, k, v, kind, out)
	}
	if k, v := tok(), tok(); k != "schema_version" || v != json.Number(strconv.Itoa(view.SchemaVersion)) {
		t.Fatalf("%s: second key %v = %v, want schema_version = %d\n%s", what, k, v, view.SchemaVersion, out)
	}
	var keys []string
	vals := map[string]json.RawMessage{}
	for dec.More() {
		k, ok := tok().(string)
		if !ok {
			t.Fatalf("%s: a key that is no string\n%s", what, out)
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("%s: %s: %v", what, k, err)
		}
		if k == "schema" || k == "schema_version" {
			t.Fatalf("%s: %s twice\n%s", what, k, out)
		}
		keys = append(keys, k)
		vals[k] = v
	}
	if d, ok := tok().(json.Delim); !ok || d != '}' {
		t.Fatalf("%s: the object does not end\n%s", what, out)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		t.Fatalf("%s: more than one object (%v)\n%s", what, err, out)
	}
	return keys, vals
}

// objectKeys are the keys of a JSON object in their order.
func objectKeys(t *testing.T, what string, raw json.RawMessage) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(raw))
	if d, err := dec.Token(); err != nil || d != json.Delim('{') {
		t.Fatalf("%s: not an object: %s", what, raw)
	}
	var keys []string
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		keys = append(keys, k.(string))
	}
	return keys
}

// firstRepair is the keys of the first per-AG result of a RepairReport
// body, after checking its "plan".
func firstRepair(t *testing.T, what string, vals map[string]json.RawMessage, plan bool) []string {
	t.Helper()
	var p bool
	var repairs []json.RawMessage
	if json.Unmarshal(vals["plan"], &p) != nil || p != plan || json.Unmarshal(vals["repairs"], &repairs) != nil || len(repairs) == 0 {
		t.Fatalf("%s: plan %s (want %v), repairs %s", what, vals["plan"], plan, vals["repairs"])
	}
	return objectKeys(t, what+": repairs[0]", repairs[0])
}

// TestOneEnvelope: every machine output (each kind of view's .json, check
// --json, repair --json and --dry-run, ctl before any command and after
// each kind of command) starts with "schema": "xfsbox.<kind>" and the one
// "schema_version", in that order, with no key twice; the same thing
// has the same name everywhere (a check's report in check --json,
// health.json and ctl's check result; the per-AG repair results,
// "repairs", in repair --json, --dry-run and ctl's repair and plan); and
// the output is the same from one run to the next.
func TestOneEnvelope(t *testing.T) {
	testimg.Require(t, "xfsprogs")
	img := testimg.Copy(t, "allfeatures")

	views := []struct{ path, kind string }{
		{"geometry.json", "geometry"}, {"sb.json", "sb"}, {"health.json", "health"},
		{"ag/1/sb.json", "sb"}, {"ag/1/agf.json", "agf"}, {"ag/1/agi.json", "agi"}, {"ag/1/agfl.json", "agfl"},
		{"ag/1/health.json", "health"}, {"ag/1/bnobt/records.json", "records"},
	}
	var health []string
	for _, v := range views {
		out, stderr, code := runCLI("dump", img, v.path)
		if code != 0 {
			t.Fatalf("dump %s: exit %d: %s", v.path, code, stderr)
		}
		if v.kind == "records" { // the header line; records follow
			out, _, _ = strings.Cut(out, "\n")
		}
		keys, _ := envelopeBody(t, v.path, []byte(out), v.kind)
		if v.path == "ag/1/health.json" {
			health = keys
		}
	}

	out, stderr, code := runCLI("check", "--json", img)
	if code != 0 {
		t.Fatalf("check --json: exit %d: %s", code, stderr)
	}
	if again, _, _ := runCLI("check", "--json", img); again != out {
		t.Fatalf("check --json differs from one run to the next:\n%s\n%s", out, again)
	}
	checkKeys, checkVals := envelopeBody(t, "check --json", []byte(out), "check")
	report := []string{"ags_checked", "clean", "findings", "suppressed"}
	if want := append([]string{"image"}, report...); !slices.Equal(checkKeys, want) {
		t.Fatalf("check --json keys %v, want %v", checkKeys, want)
	}
	var agsChecked []uint32
	if json.Unmarshal(checkVals["ags_checked"], &agsChecked) != nil || len(agsChecked) == 0 || agsChecked[0] != 0 {
		t.Fatalf("check --json: ags_checked %s", checkVals["ags_checked"])
	}
	if want := append([]string{"ag"}, report...); !slices.Equal(health, want) {
		t.Fatalf("ag/1/health.json keys %v, want %v", health, want)
	}

	out, stderr, code = runCLI("repair", "--dry-run", "--json", "--ag", "0", "--force", img, "bnobt")
	if code != 0 {
		t.Fatalf("repair --dry-run --json: exit %d: %s", code, stderr)
	}
	keys, vals := envelopeBody(t, "repair --dry-run --json", []byte(out), "repair")
	if !slices.Equal(keys, []string{"plan", "repairs"}) {
		t.Fatalf("repair --dry-run --json keys %v", keys)
	}
	planned := firstRepair(t, "repair --dry-run --json", vals, true)
	out, stderr, code = runCLI("repair", "--json", "--ag", "0", "--force", img, "bnobt")
	if code != 0 {
		t.Fatalf("repair --json: exit %d: %s", code, stderr)
	}
	keys, vals = envelopeBody(t, "repair --json", []byte(out), "repair")
	if !slices.Equal(keys, []string{"plan", "repairs"}) {
		t.Fatalf("repair --json keys %v", keys)
	}
	if repaired := firstRepair(t, "repair --json", vals, false); !slices.Equal(repaired, planned) {
		t.Fatalf("a repair's result has keys %v, a plan's %v", repaired, planned)
	}

	// ctl, through the controller a mount serves it from, over a sandbox.
	fs, err := fsys.Open(img, fsys.OpenOptions{Writable: true, Sandbox: true})
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	ctl := fusefs.NewController(view.NewTree(fs), false)
	ctlKeys := []string{"command", "ok", "errno", "message", "result"}
	keys, vals = envelopeBody(t, "ctl before any command", ctl.Last(), "ctl")
	if !slices.Equal(keys, ctlKeys) {
		t.Fatalf("ctl keys %v, want %v", keys, ctlKeys)
	}
	for _, k := range ctlKeys {
		if string(vals[k]) != "null" {
			t.Fatalf("ctl before any command: %s = %s, want null", k, vals[k])
		}
	}
	ctx := context.Background()
	for _, c := range []struct {
		line   string
		fails  bool
		result func(what string, result json.RawMessage)
	}{
		{"check ag=1", false, func(what string, r json.RawMessage) {
			if got := objectKeys(t, what, r); !slices.Equal(got, report) {
				t.Fatalf("%s: result keys %v, want %v (as check --json's)", what, got, report)
			}
		}},
		{"plan ag=0 bnobt force", false, func(what string, r json.RawMessage) {
			var rv map[string]json.RawMessage
			json.Unmarshal(r, &rv)
			if got := firstRepair(t, what, rv, true); !slices.Equal(got, planned) {
				t.Fatalf("%s: repairs[0] keys %v, want %v (as repair --json's)", what, got, planned)
			}
		}},
		{"repair ag=0 bnobt force", false, func(what string, r json.RawMessage) {
			var rv map[string]json.RawMessage
			json.Unmarshal(r, &rv)
			if got := firstRepair(t, what, rv, false); !slices.Equal(got, planned) {
				t.Fatalf("%s: repairs[0] keys %v, want %v (as repair --json's)", what, got, planned)
			}
		}},
		{"commit", false, func(what string, r json.RawMessage) {
			if got := objectKeys(t, what, r); !slices.Equal(got, []string{"committed_bytes"}) {
				t.Fatalf("%s: result keys %v", what, got)
			}
		}},
		{"discard", false, func(what string, r json.RawMessage) {
			if got := objectKeys(t, what, r); !slices.Equal(got, []string{"discarded_bytes", "discarded_extents"}) {
				t.Fatalf("%s: result keys %v", what, got)
			}
		}},
		{"frobnicate", true, func(what string, r json.RawMessage) {
			if string(r) != "null" {
				t.Fatalf("%s: result %s, want null", what, r)
			}
		}},
	} {
		err := ctl.Exec(ctx, c.line, fsys.AllAGs)
		if (err != nil) != c.fails {
			t.Fatalf("ctl %q: %v", c.line, err)
		}
		what := "ctl after " + c.line
		keys, vals := envelopeBody(t, what, ctl.Last(), "ctl")
		if !slices.Equal(keys, ctlKeys) {
			t.Fatalf("%s: keys %v, want %v", what, keys, ctlKeys)
		}
		var command string
		var ok bool
		if json.Unmarshal(vals["command"], &command) != nil || command != c.line || json.Unmarshal(vals["ok"], &ok) != nil || ok == c.fails {
			t.Fatalf("%s: command %s, ok %s", what, vals["command"], vals["ok"])
		}
		if failed := string(vals["errno"]) != "null" && string(vals["message"]) != "null"; failed != c.fails {
			t.Fatalf("%s: errno %s, message %s", what, vals["errno"], vals["message"])
		}
		c.result(what, vals["result"])
	}
}
