package xfsformat

import "testing"

// TestRootSlots: every tree's root and level accessors reach the header
// fields named by RootFields (set through SetRoot, read back through
// Root and through the header's own field list).
func TestRootSlots(t *testing.T) {
	g := &Geometry{Finobt: true, Rmapbt: true, Reflink: true}
	for _, bt := range BtreeTypes {
		o := bt.Ops()
		agf, agi := &AGF{}, &AGI{}
		o.SetRoot(agf, agi, 1000+uint32(bt), 2+uint32(bt))
		if r, l := o.Root(agf, agi); r != 1000+uint32(bt) || l != 2+uint32(bt) {
			t.Errorf("%s: root %d level %d after SetRoot", bt, r, l)
		}
		var fields []Field
		if o.InAGI() {
			fields = agi.Fields(true)
		} else {
			fields = agf.Fields(true)
		}
		rname, lname := o.RootFields()
		got := map[string]string{}
		for _, f := range fields {
			got[f.Name] = f.Text
		}
		if got[rname] != u(uint64(1000+uint32(bt))) || got[lname] != u(uint64(2+uint32(bt))) {
			t.Errorf("%s: header fields %s=%q %s=%q", bt, rname, got[rname], lname, got[lname])
		}
		if !o.Present(g) {
			t.Errorf("%s absent with every feature", bt)
		}
	}
	if Finobt.Ops().Present(&Geometry{}) || !Bnobt.Ops().Present(&Geometry{}) {
		t.Error("Present ignores the features")
	}
}
