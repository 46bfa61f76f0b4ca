package fsys

import (
	"errors"
	"path"
	"slices"
	"testing"

	"github.com/xfsbox/xfsbox/internal/testimg"
	"github.com/xfsbox/xfsbox/xfsformat"
	"github.com/xfsbox/xfsbox/xfsformat/dir"
)

// TestWalkTreeMatchesKernel walks every directory from the root with
// ReadDir and checks: the regular files found are exactly those the
// kernel hashed when the image was made; every entry's inode has the
// type the entry says and looks up by name (the hash path) to the same
// inode; "." and ".." are right; cookies grow and a listing resumed
// from any cookie gives the rest.
func TestWalkTreeMatchesKernel(t *testing.T) {
	testimg.Require(t, "xfsprogs")
	// The v4 images' hashes are of the source tree mkfs -p copied.
	for _, prof := range append([]string{"allfeatures", "defaults", "1k", "dir64k"}, testimg.V4Profiles()...) {
		t.Run(prof, func(t *testing.T) {
			img := testimg.Image(t, prof)
			hashes := testimg.Hashes(t, prof)
			fs, err := Open(img, OpenOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer fs.Close()
			files := map[string]bool{}
			dirs := 0
			var walk func(p string, ino, parent uint64)
			walk = func(p string, ino, parent uint64) {
				d, err := fs.Inode(ino)
				if err != nil {
					t.Fatalf("%s: %v", p, err)
				}
				dirs++
				var ents []dir.Entry
				if err := fs.ReadDir(d, 0, func(e dir.Entry) error {
					e.Name = slices.Clone(e.Name)
					ents = append(ents, e)
					return nil
				}); err != nil {
					t.Fatalf("%s: %v", p, err)
				}
				if len(ents) < 2 || string(ents[0].Name) != "." || ents[0].Ino != ino || string(ents[1].Name) != ".." || ents[1].Ino != parent {
					t.Fatalf("%s: listing starts %v", p, ents[:min(2, len(ents))])
				}
				for i, e := range ents {
					if i > 0 && e.Cookie <= ents[i-1].Cookie {
						t.Fatalf("%s: cookies do not grow at %q", p, e.Name)
					}
				}
				// Resume from the middle: the rest, exactly.
				mid := len(ents) / 2
				var rest []string
				if err := fs.ReadDir(d, ents[mid].Cookie, func(e dir.Entry) error {
					rest = append(rest, string(e.Name))
					return nil
				}); err != nil {
					t.Fatal(err)
				}
				if len(rest) != len(ents)-mid || rest[0] != string(ents[mid].Name) {
					t.Fatalf("%s: resumed at %d: %d entries from %q", p, mid, len(rest), rest[0])
				}
				for _, e := range ents[2:] {
					cp := path.Join(p, string(e.Name))
					got, err := fs.Lookup(d, e.Name)
					if err != nil || got.Ino != e.Ino {
						t.Fatalf("%s: lookup gives %d, %v; the listing says %d", cp, got.Ino, err, e.Ino)
					}
					in, err := fs.Inode(e.Ino)
					if err != nil {
						t.Fatalf("%s: %v", cp, err)
					}
					if fs.Geo.Ftype && FtypeMode(e.Ftype) != uint32(in.FileType()) {
						t.Errorf("%s: entry type %d, inode mode %o", cp, e.Ftype, in.Mode)
					}
					switch in.FileType() {
					case xfsformat.ModeDir:
						walk(cp, e.Ino, ino)
					case xfsformat.ModeRegular:
						files[cp] = true
					}
				}
				if _, err := fs.Lookup(d, []byte("no such name, surely")); !errors.Is(err, ErrNoEntry) {
					t.Fatalf("%s: lookup of a missing name: %v", p, err)
				}
			}
			walk("", fs.RootIno(), fs.RootIno())
			for p := range hashes {
				if !files[p] {
					t.Errorf("the kernel hashed %s; the walk did not find it", p)
				}
			}
			for p := range files {
				if _, ok := hashes[p]; !ok {
					t.Errorf("the walk found %s; the kernel did not hash it", p)
				}
			}
			t.Logf("%d directories, %d files", dirs, len(files))
		})
	}
}
