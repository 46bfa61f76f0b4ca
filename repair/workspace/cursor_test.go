//go:build linux

package workspace

import (
	"bytes"
	"context"
	"errors"
	"testing"
)

// TestCursor: a cursor over several arrays (nil and empty ones among
// them, records larger and smaller than its buffer's multiples) yields
// every record of each in turn, exactly; a cancelled context ends it
// with the context's error.
func TestCursor(t *testing.T) {
	ws := newWS(t, Options{})
	a := fillArray(t, ws, genRecs("random", 100_000, 13, 1), 13)
	b, err := ws.NewArray(13)
	if err != nil {
		t.Fatal(err)
	}
	c := fillArray(t, ws, genRecs("random", 7, 13, 2), 13)
	// Unflushed appends are seen too.
	if err := c.Append(bytes.Repeat([]byte{9}, 13)); err != nil {
		t.Fatal(err)
	}
	want := append(append(readAll(t, a), readAll(t, b)...), readAll(t, c)...)
	var got []byte
	cur := NewCursor(context.Background(), nil, a, b, nil, c)
	for rec, ok := cur.Next(); ok; rec, ok = cur.Next() {
		got = append(got, rec...)
	}
	if cur.Err() != nil || !bytes.Equal(got, want) {
		t.Fatalf("cursor: %v, %d of %d bytes, equal %v", cur.Err(), len(got), len(want), bytes.Equal(got, want))
	}
	if _, ok := NewCursor(context.Background()).Next(); ok {
		t.Fatal("a cursor over nothing yielded a record")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cur = NewCursor(ctx, a)
	cancel()
	n := 0
	for _, ok := cur.Next(); ok; _, ok = cur.Next() {
		n++
	}
	if !errors.Is(cur.Err(), context.Canceled) || n > 0 {
		t.Fatalf("cancelled before the first read: %d records, %v", n, cur.Err())
	}
}
