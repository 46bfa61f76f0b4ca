//go:build linux

package workspace

import (
	"bytes"
	"context"
	"encoding/binary"
	"math/rand/v2"
	"slices"
	"testing"
)

// Benchmarks compare the workspace with the obvious in-memory equivalent,
// a [][16]byte sorted with slices.SortFunc, on 16-byte records.

const benchRec = 16

var benchSizes = []struct {
	name string
	n    int
}{
	{"1M", 1_000_000},
	{"10M", 10_000_000},
}

func randomRecs(n int, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, 42))
	b := make([]byte, n*benchRec)
	for o := 0; o < len(b); o += 8 {
		binary.LittleEndian.PutUint64(b[o:], rng.Uint64())
	}
	return b
}

func memCompare(a, b [benchRec]byte) int { return bytes.Compare(a[:], b[:]) }

// visit is the per-record callback of the iterate benchmarks; a package
// variable so that neither variant can have it inlined.
var (
	visitSink byte
	visit     = func(i int64, rec []byte) error {
		visitSink ^= rec[0]
		return nil
	}
)

// A benchOp prepares one run of an operation on data (untimed) and returns
// the timed part and a cleanup.
type benchOp func(tb testing.TB, data []byte) (run func() error, cleanup func())

func wsFor(tb testing.TB, data []byte) *Workspace {
	ws, err := New(context.Background(), Options{Estimate: int64(len(data))})
	if err != nil {
		tb.Fatal(err)
	}
	return ws
}

func wsFilled(tb testing.TB, data []byte) (*Workspace, *Array) {
	ws := wsFor(tb, data)
	a, err := ws.NewArray(benchRec)
	if err != nil {
		tb.Fatal(err)
	}
	for o := 0; o < len(data); o += benchRec {
		if err := a.Append(data[o : o+benchRec]); err != nil {
			tb.Fatal(err)
		}
	}
	if err := a.Flush(); err != nil {
		tb.Fatal(err)
	}
	return ws, a
}

func memFilled(data []byte) [][benchRec]byte {
	recs := make([][benchRec]byte, len(data)/benchRec)
	for i := range recs {
		recs[i] = [benchRec]byte(data[i*benchRec:])
	}
	return recs
}

var benchOps = []struct {
	name      string
	workspace benchOp
	memory    benchOp
}{
	{
		"append",
		func(tb testing.TB, data []byte) (func() error, func()) {
			ws := wsFor(tb, data)
			return func() error {
				a, err := ws.NewArray(benchRec)
				if err != nil {
					return err
				}
				for o := 0; o < len(data); o += benchRec {
					if err := a.Append(data[o : o+benchRec]); err != nil {
						return err
					}
				}
				return a.Flush()
			}, func() { ws.Close() }
		},
		func(tb testing.TB, data []byte) (func() error, func()) {
			// Allocated and faulted in untimed, as the workspace's space is
			// reserved untimed by New.
			recs := make([][benchRec]byte, len(data)/benchRec)
			for i := range recs {
				recs[i][0] = 1
			}
			recs = recs[:0]
			return func() error {
				for o := 0; o < len(data); o += benchRec {
					recs = append(recs, [benchRec]byte(data[o:o+benchRec]))
				}
				return nil
			}, func() { recs = nil }
		},
	},
	{
		"iterate",
		func(tb testing.TB, data []byte) (func() error, func()) {
			ws, a := wsFilled(tb, data)
			return func() error {
				return a.Iterate(context.Background(), visit)
			}, func() { ws.Close() }
		},
		func(tb testing.TB, data []byte) (func() error, func()) {
			recs := memFilled(data)
			return func() error {
				for i := range recs {
					if err := visit(int64(i), recs[i][:]); err != nil {
						return err
					}
				}
				return nil
			}, func() {}
		},
	},
	{
		"sort",
		func(tb testing.TB, data []byte) (func() error, func()) {
			ws, a := wsFilled(tb, data)
			return func() error {
				return a.Sort(context.Background(), bytes.Compare)
			}, func() { ws.Close() }
		},
		func(tb testing.TB, data []byte) (func() error, func()) {
			recs := memFilled(data)
			return func() error {
				slices.SortFunc(recs, memCompare)
				return nil
			}, func() {}
		},
	},
}

func runBench(b *testing.B, op benchOp, data []byte) {
	b.SetBytes(int64(len(data)))
	b.StopTimer()
	for range b.N {
		run, cleanup := op(b, data)
		b.StartTimer()
		err := run()
		b.StopTimer()
		cleanup()
		if err != nil {
			b.Fatal(err)
		}
	}
}

func benchmarkOp(b *testing.B, name string) {
	for _, op := range benchOps {
		if op.name != name {
			continue
		}
		for _, sz := range benchSizes {
			var data []byte // generated on first use, shared by both variants
			get := func() []byte {
				if data == nil {
					data = randomRecs(sz.n, 1)
				}
				return data
			}
			b.Run("workspace/"+sz.name, func(b *testing.B) { runBench(b, op.workspace, get()) })
			b.Run("memory/"+sz.name, func(b *testing.B) { runBench(b, op.memory, get()) })
		}
	}
}

func BenchmarkAppend(b *testing.B)  { benchmarkOp(b, "append") }
func BenchmarkIterate(b *testing.B) { benchmarkOp(b, "iterate") }
func BenchmarkSort(b *testing.B)    { benchmarkOp(b, "sort") }
