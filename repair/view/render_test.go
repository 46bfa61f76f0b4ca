package view_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/xfsbox/xfsbox/repair/view"
)

// render renders the view at path p of tree, or fails the test.
func render(t testing.TB, ctx context.Context, tree *view.Tree, p string) string {
	t.Helper()
	f, err := tree.Open(ctx, p)
	if err != nil {
		t.Fatalf("%s: %v", p, err)
	}
	var b bytes.Buffer
	if err := f.Render(ctx, &b); err != nil {
		t.Fatalf("%s: %v", p, err)
	}
	return b.String()
}
