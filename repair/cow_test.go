package repair

import (
	"context"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/xfsbox/xfsbox/internal/judge"
	"github.com/xfsbox/xfsbox/internal/testimg"
	"github.com/xfsbox/xfsbox/internal/xfsdb"
)

// leftoverCow fakes, with xfs_db, what a crash in the middle of a
// copy-on-write leaves (fstests xfs/308's method): the last debris blocks
// of AG agno's longest free extent (the last of its one-leaf cntbt, which
// on the test images is also the AG's last free extent and lies past
// every rmap record) leave the free-space trees and counters and become a
// CoW staging extent: a refcountbt record in the CoW domain with refcount
// 1 and, with an rmapbt, an OWN_COW rmap record. It returns the CoW
// extent's first block.
func leftoverCow(t *testing.T, img string, agno uint32, debris uint64, rmap bool) uint64 {
	t.Helper()
	agf := fmt.Sprintf("agf %d", agno)
	get := func(field string, cmds ...string) uint64 {
		t.Helper()
		o, err := xfsdb.Print(img, append(cmds, "print "+field)...)
		if err != nil {
			t.Fatal(err)
		}
		v, err := o.Uint(field)
		if err != nil {
			t.Fatalf("%v %s: %v", cmds, field, err)
		}
		return v
	}
	var cmds []string
	set := func(field string, v int64, addr ...string) {
		cmds = append(cmds, agf)
		for _, a := range addr {
			cmds = append(cmds, "addr "+a)
		}
		cmds = append(cmds, fmt.Sprintf("write %s -- %d", field, v))
	}
	for _, lv := range []string{"bnolevel", "cntlevel", "refcntlevel"} {
		if n := get(lv, agf); n != 1 {
			t.Fatalf("ag %d %s is %d: the fake needs one-leaf trees", agno, lv, n)
		}
	}
	freeblks, longest := get("freeblks", agf), get("longest", agf)
	ncnt := get("numrecs", agf, "addr cntroot")
	start := get(fmt.Sprintf("recs[%d].startblock", ncnt), agf, "addr cntroot")
	length := get(fmt.Sprintf("recs[%d].blockcount", ncnt), agf, "addr cntroot")
	nbno := get("numrecs", agf, "addr bnoroot")
	if length != longest || length < 2*debris || get(fmt.Sprintf("recs[%d].startblock", nbno), agf, "addr bnoroot") != start {
		t.Fatalf("ag %d: the longest free extent [%d,%d] is not the last (longest %d)", agno, start, length, longest)
	}
	cow := start + length - debris
	set("longest", int64(length-debris))
	set("freeblks", int64(freeblks-debris))
	set(fmt.Sprintf("recs[%d].blockcount", nbno), int64(length-debris), "bnoroot")
	set(fmt.Sprintf("recs[%d].blockcount", ncnt), int64(length-debris), "cntroot")
	fd := get("fdblocks", "sb 0")
	cmds = append(cmds, "sb 0", fmt.Sprintf("write fdblocks %d", fd-debris))
	nrefc := get("numrecs", agf, "addr refcntroot") + 1
	set("numrecs", int64(nrefc), "refcntroot")
	for _, f := range []struct {
		name string
		v    int64
	}{{"startblock", int64(cow)}, {"blockcount", int64(debris)}, {"refcount", 1}, {"cowflag", 1}} {
		set(fmt.Sprintf("recs[%d].%s", nrefc, f.name), f.v, "refcntroot")
	}
	if rmap {
		if n := get("rmaplevel", agf); n != 1 {
			t.Fatalf("ag %d rmaplevel is %d: the fake needs a one-leaf rmapbt", agno, n)
		}
		nrmap := get("numrecs", agf, "addr rmaproot")
		if last := get(fmt.Sprintf("recs[%d].startblock", nrmap), agf, "addr rmaproot"); last >= cow {
			t.Fatalf("ag %d: rmap record at %d past the CoW extent at %d", agno, last, cow)
		}
		nrmap++
		set("numrecs", int64(nrmap), "rmaproot")
		for _, f := range []struct {
			name string
			v    int64
		}{{"startblock", int64(cow)}, {"blockcount", int64(debris)}, {"owner", -9}, {"offset", 0}} {
			set(fmt.Sprintf("recs[%d].%s", nrmap, f.name), f.v, "rmaproot")
		}
	}
	args := []string{"-x"}
	for _, c := range cmds {
		args = append(args, "-c", c)
	}
	out, err := exec.Command("xfs_db", append(args, img)...).CombinedOutput()
	if err != nil || strings.Contains(string(out), "verifier failed") {
		t.Fatalf("xfs_db: %v\n%s", err, out)
	}
	return cow
}

// dbFreeExtents lists AG agno's bnobt records (a one-leaf bnobt), as
// xfs_db prints them.
func dbFreeExtents(t *testing.T, img string, agno uint32) [][2]uint64 {
	t.Helper()
	o, err := xfsdb.Print(img, fmt.Sprintf("agf %d", agno), "addr bnoroot", "print recs")
	if err != nil {
		t.Fatal(err)
	}
	recs := o.Array("recs")
	if recs == nil || recs.Len() == 0 {
		t.Fatalf("ag %d: no bnobt records", agno)
	}
	var exts [][2]uint64
	for _, i := range recs.Index {
		var e [2]uint64
		for k, col := range []string{"startblock", "blockcount"} {
			v, _ := recs.Get(i, col)
			if e[k], err = xfsdb.ParseUint(v); err != nil {
				t.Fatalf("ag %d bnobt recs[%d].%s = %q: %v", agno, i, col, v, err)
			}
		}
		exts = append(exts, e)
	}
	return exts
}

// TestLeftoverCow: a CoW staging extent left by a crash (or in an image
// copied from a frozen filesystem) is a problem xfs_repair -n reports
// ("leftover CoW extent") and exits 1 on. Our check must report it too
// (refcountbt.cow, and nothing else on this otherwise consistent fake),
// and an unforced refcountbt repair must free it as xfs_repair does:
// afterwards our check and xfs_repair -n are clean, the AG's free space
// is back to what it was, and the kernel mounts the image with every file
// intact. With and without an rmapbt.
// (The free space is compared as extents: the rebuilt trees take their
// blocks from free space too, so the counters alone would not tell.)
func TestLeftoverCow(t *testing.T) {
	testimg.Require(t, "root", "xfsprogs", "loop")
	for _, prof := range []string{"allfeatures", "defaults", "1k"} {
		t.Run(prof, func(t *testing.T) {
			img := testimg.Copy(t, prof)
			fs := openRW(t, img)
			rmap := fs.Geo.Rmapbt
			fs.Close()
			const debris = 100
			cow := leftoverCow(t, img, 1, debris, rmap)
			if clean, out := judge.XfsRepairN(t, img); clean || !strings.Contains(out, "leftover CoW extent") {
				t.Fatalf("xfs_repair -n does not report the leftover CoW extent (clean %v):\n%s", clean, out)
			}
			found := codes(t, img)
			if got := slices.Compact(slices.Sorted(slices.Values(found))); !slices.Equal(got, []string{"refcountbt.cow"}) {
				t.Fatalf("findings %v, want refcountbt.cow alone", found)
			}
			fs = openRW(t, img)
			res, err := repairOne(context.Background(), fs, RefcountBT, 1, RepairOptions{})
			fs.Close()
			if err != nil {
				t.Fatal(err)
			}
			if res.NothingToDo || len(res.After) != 0 {
				t.Fatalf("repair refcountbt: nothing to do %v, findings after %v", res.NothingToDo, res.After)
			}
			if left := codes(t, img); len(left) > 0 {
				t.Fatalf("findings after the repair: %v", left)
			}
			judge.RequireClean(t, img, "after freeing the leftover CoW extent")
			if !slices.ContainsFunc(dbFreeExtents(t, img, 1), func(e [2]uint64) bool { return e[0] <= cow && cow+debris <= e[0]+e[1] }) {
				t.Errorf("blocks [%d,%d] are not free after the repair: %v", cow, debris, dbFreeExtents(t, img, 1))
			}
			judge.KernelVerify(t, img, testimg.Hashes(t, prof))
		})
	}
}
