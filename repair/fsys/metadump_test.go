package fsys

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/xfsbox/xfsbox/internal/testimg"
	"github.com/xfsbox/xfsbox/repair/store"
)

// TestOpenMetadumpModes: a metadump opens read-only, and in a sandbox
// whether or not Writable is asked with it (mount --sandbox asks both);
// a writable open, and a sandbox with a named overlay, are refused by
// name; a sandbox takes writes into its overlay and reads them back
// over the metadump, which no open changes, and none leaves a file
// beside it.
func TestOpenMetadumpModes(t *testing.T) {
	md := testimg.SmallMetadump(t, "-o")
	before, err := os.ReadFile(md)
	if err != nil {
		t.Fatal(err)
	}
	beside := func() []string {
		names, _ := filepath.Glob(filepath.Join(filepath.Dir(md), "*"))
		return names
	}
	names := beside()
	for _, c := range []struct {
		name    string
		opts    OpenOptions
		refused bool
		sandbox bool
	}{
		{"read-only", OpenOptions{}, false, false},
		{"writable", OpenOptions{Writable: true}, true, false},
		{"sandbox", OpenOptions{Sandbox: true}, false, true},
		{"writable sandbox", OpenOptions{Writable: true, Sandbox: true}, false, true},
		{"named overlay", OpenOptions{Sandbox: true, Overlay: filepath.Join(t.TempDir(), "ovl")}, true, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			fs, err := Open(md, c.opts)
			if c.refused {
				if !errors.Is(err, store.ErrMetadumpReadOnly) {
					t.Fatalf("Open: %v, want ErrMetadumpReadOnly", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer fs.Close()
			if fs.Img.Metadump() == nil || fs.Sandboxed() != c.sandbox {
				t.Fatalf("metadump %v, sandboxed %v", fs.Img.Metadump() != nil, fs.Sandboxed())
			}
			// A sector of the AGF's: held by the metadump.
			off := int64(fs.SB.SectSize)
			p := make([]byte, 512)
			if err := fs.Img.ReadAt(p, off); err != nil {
				t.Fatal(err)
			}
			q := slices.Clone(p)
			q[100] ^= 0xff
			err = fs.Img.WriteAt(q, off)
			if !c.sandbox {
				if err == nil {
					t.Fatal("a write to a read-only metadump succeeded")
				}
				return
			}
			if err != nil {
				t.Fatalf("a write into the sandbox: %v", err)
			}
			if err := fs.Img.ReadAt(p, off); err != nil || !slices.Equal(p, q) {
				t.Fatalf("the sandbox does not read its write back: %v", err)
			}
		})
	}
	if after, err := os.ReadFile(md); err != nil || !slices.Equal(after, before) {
		t.Fatalf("the metadump changed (%v)", err)
	}
	if got := beside(); !slices.Equal(got, names) {
		t.Fatalf("beside the metadump: %v, want %v", got, names)
	}
}
