package repair

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/xfsbox/xfsbox/repair/check"
	"github.com/xfsbox/xfsbox/repair/workspace"
)

// TestCarve: the blocks for new trees come from the longest candidate
// extents first, the lowest start among equals, each run from its
// extent's start; the runs come back by start; asking for more than the
// candidates hold is ErrNoSpace.
func TestCarve(t *testing.T) {
	ws, err := workspace.New(context.Background(), workspace.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	cands, err := ws.NewArray(8)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range []check.Extent{{Start: 10, End: 13}, {Start: 20, End: 30}, {Start: 40, End: 43}, {Start: 50, End: 52}, {Start: 60, End: 70}} {
		if err := cands.Append(candidateRec(e)); err != nil {
			t.Fatal(err)
		}
	}
	if err := cands.SortKey(context.Background(), 8); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		need int64
		want []check.Extent
	}{
		{0, nil},
		{4, []check.Extent{{Start: 20, End: 24}}},
		{10, []check.Extent{{Start: 20, End: 30}}},
		{12, []check.Extent{{Start: 20, End: 30}, {Start: 60, End: 62}}},
		{22, []check.Extent{{Start: 10, End: 12}, {Start: 20, End: 30}, {Start: 60, End: 70}}},
		{28, []check.Extent{{Start: 10, End: 13}, {Start: 20, End: 30}, {Start: 40, End: 43}, {Start: 50, End: 52}, {Start: 60, End: 70}}},
	} {
		got, err := carve(context.Background(), cands, tc.need)
		if err != nil {
			t.Fatalf("need %d: %v", tc.need, err)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("need %d: %v, want %v", tc.need, got, tc.want)
		}
	}
	if _, err := carve(context.Background(), cands, 29); !errors.Is(err, ErrNoSpace) {
		t.Errorf("need 29 of 28: %v, want ErrNoSpace", err)
	}
}
