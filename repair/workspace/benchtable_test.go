//go:build bench

package workspace

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestPrintBenchTable prints, for each operation and size, the median of
// three timings of the workspace and of the in-memory equivalent, and
// their ratio (memory time / workspace time, i.e. the workspace's speed as
// a fraction of memory's). Run it with XFSBOX_BENCH_TABLE=1 (make bench).
func TestPrintBenchTable(t *testing.T) {
	if os.Getenv("XFSBOX_BENCH_TABLE") != "1" {
		t.Skip("set XFSBOX_BENCH_TABLE=1 to print the workspace benchmark table")
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "%-8s %5s %12s %12s %6s\n", "op", "n", "workspace", "memory", "ratio")
	sortOK := true
	for _, sz := range benchSizes {
		data := randomRecs(sz.n, 1)
		for _, op := range benchOps {
			ws := medianRun(t, op.workspace, data)
			mem := medianRun(t, op.memory, data)
			ratio := mem.Seconds() / ws.Seconds()
			if op.name == "sort" && ratio < 0.5 {
				sortOK = false
			}
			fmt.Fprintf(&sb, "%-8s %5s %12v %12v %6.2f\n", op.name, sz.name,
				ws.Round(time.Millisecond/10), mem.Round(time.Millisecond/10), ratio)
		}
	}
	fmt.Fprintf(&sb, "ratio = memory time / workspace time (1.00 = as fast as memory)\n")
	fmt.Fprintf(&sb, "sort target (workspace >= 0.5x in-memory speed): %s\n",
		map[bool]string{true: "met", false: "NOT met"}[sortOK])
	fmt.Print(sb.String())
}

// medianRun times op on data three times and returns the median.
func medianRun(t *testing.T, op benchOp, data []byte) time.Duration {
	var ds []time.Duration
	for range 3 {
		run, cleanup := op(t, data)
		start := time.Now()
		err := run()
		d := time.Since(start)
		cleanup()
		if err != nil {
			t.Fatal(err)
		}
		ds = append(ds, d)
	}
	slices.Sort(ds)
	return ds[1]
}
