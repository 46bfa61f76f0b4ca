package fsys

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// TestForEachPanic: a worker's panic comes back as a PanicError naming
// the value and where, instead of ending the process.
func TestForEachPanic(t *testing.T) {
	err := ForEach(context.Background(), []int{1, 2, 3, 4}, func(ctx context.Context, i int) error {
		if i == 3 {
			panic("worker three")
		}
		return nil
	})
	var pe *PanicError
	if !errors.As(err, &pe) || pe.Value != "worker three" || !strings.Contains(err.Error(), "foreach_test.go") {
		t.Fatalf("ForEach returned %v", err)
	}
}
