package store

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestCacheReadRun: a run read ahead gives every unit the bytes a Read
// of it gives, keeps buffers already cached, stays within the limit, and
// a run past the image's end still reads the unit asked for.
func TestCacheReadRun(t *testing.T) {
	data := make([]byte, 64<<10)
	for i := range data {
		data[i] = byte(i*7 + i>>9)
	}
	p := filepath.Join(t.TempDir(), "img")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	img, err := OpenImage(p, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { img.Close() })
	c := NewCache(img, 1<<20)
	const n = 1024
	kept, err := c.Read(5*n, n)
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.ReadRun(2*n, n, 8)
	if err != nil || !bytes.Equal(b, data[2*n:3*n]) {
		t.Fatalf("ReadRun: %v, bytes equal %v", err, bytes.Equal(b, data[2*n:3*n]))
	}
	misses := c.misses
	for i := 2; i < 10; i++ {
		u, err := c.Read(int64(i*n), n)
		if err != nil || !bytes.Equal(u, data[i*n:(i+1)*n]) {
			t.Fatalf("unit %d after the run: %v", i, err)
		}
		if i == 5 && &u[0] != &kept[0] {
			t.Errorf("unit 5 was cached before the run: its buffer was replaced")
		}
	}
	if c.misses != misses {
		t.Errorf("%d reads of units the run brought in missed the cache", c.misses-misses)
	}
	if c.bytes != 8*n {
		t.Errorf("the cache holds %d bytes, want %d", c.bytes, 8*n)
	}
	// Past the end: the run is cut short, the unit still reads.
	u, err := c.ReadRun(int64(len(data)-n), n, 8)
	if err != nil || !bytes.Equal(u, data[len(data)-n:]) {
		t.Fatalf("a run past the end: %v", err)
	}
}
