package view

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/xfsbox/xfsbox/repair"
	"github.com/xfsbox/xfsbox/repair/check"
)

// SchemaVersion is the one version of every machine-readable output of
// xfsbox: the views' .json files, check --json, repair --json and the
// results in ctl. Machine output is a contract: bump it whenever a key
// of any of them is renamed, removed or changes meaning (3: one envelope
// for all; check's "ags" became "ags_checked", the per-AG repair results
// are "repairs" everywhere, ctl's repair result is a RepairReport).
const SchemaVersion = 3

// Envelope is one machine-readable output: "schema" ("xfsbox." + Kind)
// and "schema_version" (SchemaVersion) first, then the fields of Body in
// Body's own order. Body must marshal to a JSON object: a struct (field
// order) or the views' ordered object; nil is an empty body.
type Envelope struct {
	Kind string
	Body any
}

// MarshalJSON writes the envelope's two keys, then Body's fields.
func (e Envelope) MarshalJSON() ([]byte, error) {
	schema, err := json.Marshal("xfsbox." + e.Kind)
	if err != nil {
		return nil, err
	}
	out := append(append([]byte(`{"schema":`), schema...), `,"schema_version":`+strconv.Itoa(SchemaVersion)...)
	if e.Body != nil {
		body, err := json.Marshal(e.Body)
		if err != nil {
			return nil, err
		}
		if len(body) < 2 || body[0] != '{' || body[len(body)-1] != '}' {
			return nil, fmt.Errorf("xfsbox.%s: the body of an envelope must be a JSON object, not %.20s", e.Kind, body)
		}
		if inner := body[1 : len(body)-1]; len(inner) > 0 {
			out = append(append(out, ','), inner...)
		}
	}
	return append(out, '}'), nil
}

// CheckReport is the body of a check's outcome, the same wherever a check
// is reported: check --json (after "image"), health.json (after "ag") and
// the result of ctl's check.
type CheckReport struct {
	// AGsChecked are the numbers of the AGs the check covered.
	AGsChecked []uint32        `json:"ags_checked"`
	Clean      bool            `json:"clean"`
	Findings   []check.Finding `json:"findings"`
	Suppressed int             `json:"suppressed"`
}

// NewCheckReport reports res; its lists are empty, never null.
func NewCheckReport(res *check.CheckResult) CheckReport {
	return CheckReport{
		AGsChecked: emptyNotNil(res.AGs),
		Clean:      !res.Findings.Corrupt(),
		Findings:   emptyNotNil(res.Findings.List()),
		Suppressed: res.Findings.Suppressed,
	}
}

// RepairReport is the body of a repair's or a plan's outcome, the same in
// repair --json and in the result of ctl's repair and plan: Plan says
// nothing was written (repair --dry-run, plan), Repairs holds one result
// per AG repaired, in AG order.
type RepairReport struct {
	Plan    bool                   `json:"plan"`
	Repairs []*repair.RepairResult `json:"repairs"`
}

// NewRepairReport reports results; Repairs and the lists of each result
// are empty, never null (the results themselves are not changed).
func NewRepairReport(plan bool, results []*repair.RepairResult) RepairReport {
	out := RepairReport{Plan: plan, Repairs: []*repair.RepairResult{}}
	for _, res := range results {
		if res == nil {
			continue
		}
		r := *res
		r.Requested = emptyNotNil(r.Requested)
		r.Rewritten = emptyNotNil(r.Rewritten)
		r.Counters = emptyNotNil(r.Counters)
		r.Before = emptyNotNil(r.Before)
		r.After = emptyNotNil(r.After)
		out.Repairs = append(out.Repairs, &r)
	}
	return out
}

// emptyNotNil is s, or an empty list (JSON []) when s is nil.
func emptyNotNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
