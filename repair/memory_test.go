package repair

import (
	"context"
	"errors"
	"testing"

	"github.com/xfsbox/xfsbox/internal/testimg"
	"github.com/xfsbox/xfsbox/repair/check"
	"github.com/xfsbox/xfsbox/repair/fsys"
	"github.com/xfsbox/xfsbox/repair/store"
)

// TestOpenInMemory: a whole image held in memory opens, checks clean
// (not one finding) and plans a repair; what needs a file (a writer's
// lock, journal and overlay) is refused by name.
func TestOpenInMemory(t *testing.T) {
	b := testimg.SmallImage(t)
	fs, err := fsys.OpenImage(store.NewImage(store.MemDevice(b), int64(len(b)), "small.img (in memory)", false), fsys.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	if fs.Img.File() != nil || fs.Geo.AGCount != 2 {
		t.Fatalf("file %v, %d AGs", fs.Img.File(), fs.Geo.AGCount)
	}
	ctx := context.Background()
	res, err := check.Check(ctx, fs, check.CheckOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if l := res.Findings.List(); len(l) != 0 || res.Findings.Suppressed != 0 {
		t.Fatalf("%d findings on the clean image: %v", len(l), l)
	}
	plan, err := Plan(ctx, fs, All, fsys.OneAG(0), RepairOptions{Force: true})
	if err != nil || len(plan) != 1 || len(plan[0].Rewritten) == 0 {
		t.Fatalf("plan in memory: %v %+v", err, plan)
	}
	for _, opts := range []fsys.OpenOptions{{Writable: true}, {Sandbox: true}, {Sandbox: true, Overlay: "x.ovl"}} {
		img := store.NewImage(store.MemDevice(b), int64(len(b)), "mem", true)
		if _, err := fsys.OpenImage(img, opts); !errors.Is(err, store.ErrNotFile) {
			t.Errorf("%+v in memory: %v, want ErrNotFile", opts, err)
		}
	}
}
