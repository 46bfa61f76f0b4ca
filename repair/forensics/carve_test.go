package forensics

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/xfsbox/xfsbox/internal/testimg"
	"github.com/xfsbox/xfsbox/repair/fsys"
	"golang.org/x/sys/unix"
)

// TestCarveRemovedEntries: names removed from block, leaf and node
// directories on the kernel's mount are carved back with the inode
// number each had (the kernel's stat before the removal is the truth),
// and no carved name claims an inode the truth gives another name.
func TestCarveRemovedEntries(t *testing.T) {
	img, mnt, umount := testimg.FreshMount(t, "carve.img", 512<<20)
	type gone struct {
		dir  string
		ino  uint64
		name string
	}
	var removed []gone
	live := map[uint64]bool{}
	for _, d := range []struct {
		name string
		n    int
	}{{"block", 20}, {"leaf", 300}, {"node", 3000}} {
		p := filepath.Join(mnt, d.name)
		if err := os.Mkdir(p, 0o755); err != nil {
			t.Fatal(err)
		}
		for i := range d.n {
			f := filepath.Join(p, fmt.Sprintf("file-%s-%05d-with-a-longer-name", d.name, i))
			if err := os.WriteFile(f, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			var st unix.Stat_t
			if err := unix.Stat(f, &st); err != nil {
				t.Fatal(err)
			}
			if i%7 == 3 {
				removed = append(removed, gone{d.name, st.Ino, filepath.Base(f)})
				continue
			}
			live[st.Ino] = true
		}
		for _, r := range removed {
			if r.dir == d.name {
				if err := os.Remove(filepath.Join(p, r.name)); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	umount()
	fs, err := fsys.Open(img, fsys.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fs.Close() })
	got := map[string]RemovedEntry{}
	if _, err := LiveDirRemovals(context.Background(), fs, func(r RemovedEntry) { got[string(r.Name)] = r }); err != nil {
		t.Fatal(err)
	}
	found, hashed := 0, 0
	for _, r := range removed {
		c, ok := got[r.name]
		if !ok {
			continue
		}
		found++
		if c.HashSeen {
			hashed++
		}
		if c.Ino != r.ino && !(c.LowOnly && c.Ino == r.ino&0xffffffff) {
			t.Errorf("%s/%s: carved inode %d, was %d", r.dir, r.name, c.Ino, r.ino)
		}
	}
	for name, c := range got {
		if live[c.Ino] {
			t.Errorf("carved %q names inode %d, which lives on under another name", name, c.Ino)
		}
	}
	t.Logf("%d removed, %d carved back (%d hash-confirmed), %d carved in all", len(removed), found, hashed, len(got))
	if found < len(removed)*9/10 {
		t.Errorf("carved %d of %d removed names", found, len(removed))
	}
}
