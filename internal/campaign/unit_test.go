package campaign

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/xfsbox/xfsbox/internal/xfsdb"
)

// These need neither root nor xfsprogs.

const nodePrint = `magic = 0x41423342
level = 1
numrecs = 5
uuid = 6b1c8a3e-0001-4d2e-9a51-7f0e3c2b1a01
crc = 0x12470f6b (correct)
keys[1-5] = [startblock,blockcount] 
1:[4797,1] 
2:[5771,1] 
3:[6781,1] 
4:[7791,1] 
5:[8297,1]
ptrs[1-5] = 1:1 2:12 3:4715 4:4746 5:8860
`

func TestFieldNames(t *testing.T) {
	got := FieldNames(xfsdb.Parse(nodePrint), nil)
	want := []string{"magic", "level", "numrecs", "uuid", "crc",
		"keys[1].startblock", "keys[1].blockcount", "keys[3].startblock", "keys[3].blockcount",
		"keys[5].startblock", "keys[5].blockcount", "ptrs[1]", "ptrs[3]", "ptrs[5]"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("FieldNames:\n got %q\nwant %q", got, want)
	}
	agfl := xfsdb.Parse("magicnum = 0x5841464c\nbno[0-118] = 0:null 1:7 2:8 40:9 118:null\n")
	got = FieldNames(agfl, []int{40, 46, 200})
	want = []string{"magicnum", "bno[0]", "bno[59]", "bno[118]", "bno[40]", "bno[46]"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("FieldNames with extras:\n got %q\nwant %q", got, want)
	}
	agi := xfsdb.Parse("count = 3\nunlinked[0-63] = \n")
	if got := FieldNames(agi, nil); !reflect.DeepEqual(got, []string{"count", "unlinked[0]", "unlinked[31]", "unlinked[63]"}) {
		t.Errorf("agi: %q", got)
	}
}

func TestRefused(t *testing.T) {
	o := xfsdb.Parse(nodePrint)
	if refused(o, "uuid", "add") == "" || refused(o, "uuid", "sub") == "" {
		t.Error("uuid add/sub not refused")
	}
	if refused(o, "uuid", "random") != "" || refused(o, "level", "add") != "" {
		t.Error("refused too much")
	}
}

func testCases() []Case {
	var cs []Case
	for _, p := range []string{"a", "b"} {
		for _, o := range []string{"agf", "bnobt-root"} {
			for i := range 10 {
				for _, v := range Verbs {
					cs = append(cs, Case{Profile: p, Object: o, Field: fmt.Sprintf("f%d", i), Verb: v})
				}
			}
			for _, v := range Verbs {
				cs = append(cs, Case{Profile: p, Object: o, Field: "crc", Verb: v})
			}
		}
	}
	return cs
}

func TestSample(t *testing.T) {
	cs := testCases()
	s1, s2 := Sample(cs, 2, 1), Sample(cs, 2, 1)
	if !reflect.DeepEqual(s1, s2) {
		t.Fatal("Sample is not deterministic")
	}
	if len(s1) != 2*2*len(Verbs)*2 {
		t.Fatalf("%d cases, want %d", len(s1), 2*2*len(Verbs)*2)
	}
	n := map[string]int{}
	for _, c := range s1 {
		if c.Field == "crc" {
			t.Errorf("sampled %s", c)
		}
		n[c.Profile+c.Object+c.Verb]++
	}
	for k, v := range n {
		if v != 2 {
			t.Errorf("%s: %d cases", k, v)
		}
	}
	if reflect.DeepEqual(s1, Sample(cs, 2, 2)) {
		t.Error("another seed picked the same cases")
	}
}

func TestOutcome(t *testing.T) {
	for _, tc := range []struct {
		r    Result
		want Outcome
	}{
		{Result{ApplyErr: fmt.Errorf("x: %w", ErrRejected)}, Rejected},
		{Result{ApplyErr: errors.New("boom")}, Failed},
		{Result{Changed: false}, Unchanged},
		{Result{Changed: true, RepairDetected: true}, Miss},
		{Result{Changed: true, RepairDetected: true, OurErr: errors.New("panic")}, Miss},
		{Result{Changed: true, OurErr: errors.New("panic")}, Failed},
		{Result{Changed: true, RepairErr: ErrTimeout, OurDetected: true}, Failed},
		{Result{Changed: true, RepairDetected: true, OurDetected: true}, Both},
		{Result{Changed: true, OurDetected: true}, Extra},
		{Result{Changed: true}, Neither},
	} {
		if got := tc.r.Outcome(); got != tc.want {
			t.Errorf("%+v: %s, want %s", tc.r, got, tc.want)
		}
	}
}

func TestComplaint(t *testing.T) {
	out := `Cannot get host filesystem geometry.
Repair may fail if there is a sector size mismatch between
the image and the host filesystem.
Phase 1 - find and verify superblock...
Phase 2 - using internal log
        - zero log...
        - scan filesystem freespace and inode maps...
agf_freeblks 52462, counted 52463 in ag 0
        - found root inode chunk
Phase 3 - for each AG...
No modify flag set, skipping filesystem flush and exiting.
`
	got := Complaint(out, 5)
	if len(got) != 1 || got[0] != "agf_freeblks 52462, counted 52463 in ag 0" {
		t.Errorf("Complaint: %q", got)
	}
}

func TestReproduce(t *testing.T) {
	r := &Result{Case: Case{Field: "lsn", Verb: "random", Nav: []string{"agi 0", "addr free_root"}}, Value: "lsn = 0x88969cd93c33033"}
	want := "xfs_db -x -c 'agi 0' -c 'addr free_root' -c 'write -d lsn 0x88969cd93c33033' IMAGE"
	if got := reproduce(r); got != want {
		t.Errorf("reproduce:\n got %s\nwant %s", got, want)
	}
	r.Verb = "add"
	if got := reproduce(r); !strings.HasSuffix(got, "-c 'fuzz -d lsn add' IMAGE") {
		t.Errorf("reproduce: %s", got)
	}
}
