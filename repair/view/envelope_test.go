package view_test

import (
	"encoding/json"
	"strconv"
	"testing"

	"github.com/xfsbox/xfsbox/repair"
	"github.com/xfsbox/xfsbox/repair/check"
	"github.com/xfsbox/xfsbox/repair/view"
)

// TestEnvelope: schema and schema_version come first, then the body's
// fields in its order (an embedded report flattened in place); a nil
// body is an empty one; a body that is no object is an error; empty
// report lists are [], and a repair report leaves the results it was
// given as they were.
func TestEnvelope(t *testing.T) {
	v := strconv.Itoa(view.SchemaVersion)
	findings := &check.Findings{}
	findings.Addf("agf.freeblks", check.XrefMismatch, 1, "agf", 1, "off by %d", 2)
	report := view.NewCheckReport(&check.CheckResult{Findings: findings, AGs: []uint32{1}})
	body := struct {
		Z string `json:"z"`
		view.CheckReport
		A int `json:"a"`
	}{"first", report, 7}
	for _, c := range []struct {
		env  view.Envelope
		want string
	}{
		{view.Envelope{Kind: "x"}, `{"schema":"xfsbox.x","schema_version":` + v + `}`},
		{view.Envelope{Kind: "x", Body: struct{}{}}, `{"schema":"xfsbox.x","schema_version":` + v + `}`},
		{view.Envelope{Kind: "x", Body: body}, `{"schema":"xfsbox.x","schema_version":` + v + `,"z":"first","ags_checked":[1],"clean":false,` +
			`"findings":[{"code":"agf.freeblks","severity":"xref","ag":1,"structure":"agf","block":1,"message":"off by 2"}],"suppressed":0,"a":7}`},
		{view.Envelope{Kind: "c", Body: view.NewCheckReport(&check.CheckResult{Findings: &check.Findings{}})},
			`{"schema":"xfsbox.c","schema_version":` + v + `,"ags_checked":[],"clean":true,"findings":[],"suppressed":0}`},
		{view.Envelope{Kind: "r", Body: view.NewRepairReport(true, nil)}, `{"schema":"xfsbox.r","schema_version":` + v + `,"plan":true,"repairs":[]}`},
	} {
		got, err := json.Marshal(c.env)
		if err != nil || string(got) != c.want {
			t.Errorf("%+v:\n got %s (%v)\nwant %s", c.env, got, err, c.want)
		}
	}
	for _, bad := range []any{[]int{1}, 3, "s"} {
		if b, err := json.Marshal(view.Envelope{Kind: "x", Body: bad}); err == nil {
			t.Errorf("body %v: %s, want an error", bad, b)
		}
	}
	res := &repair.RepairResult{AG: 2}
	rep := view.NewRepairReport(false, []*repair.RepairResult{res})
	if res.Rewritten != nil || len(rep.Repairs) != 1 || rep.Repairs[0].Rewritten == nil || rep.Repairs[0].AG != 2 {
		t.Errorf("NewRepairReport: given %+v, reports %+v", res, rep.Repairs)
	}
}
