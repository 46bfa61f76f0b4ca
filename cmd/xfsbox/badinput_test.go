package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xfsbox/xfsbox/internal/testimg"
)

// TestBadInput feeds images that are not usable XFS (or use devices
// xfsbox does not support yet) to dump, check, repair and mount:
// each must fail with a clear error naming the problem and a non-zero
// exit code, without panicking or changing a byte of the input.
func TestBadInput(t *testing.T) {
	testimg.Require(t, "root", "xfsprogs", "fuse")
	dir := t.TempDir()
	write := inDir(t, dir)
	rnd := make([]byte, 4<<20)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range rnd {
		rnd[i] = byte(r.Uint32())
	}
	good := testimg.Image(t, "allfeatures")
	head := make([]byte, 8<<20)
	f, err := os.Open(good)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.ReadAt(head, 0); err != nil {
		t.Fatal(err)
	}
	f.Close()

	ext4 := filepath.Join(dir, "ext4.img")
	if err := os.Truncate(write("ext4.img", nil), 32<<20); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mkfs.ext4", "-q", "-F", ext4).CombinedOutput(); err != nil {
		t.Skipf("mkfs.ext4 unavailable: %v %s", err, out) // e2fsprogs is on every Debian machine
	}
	// v4 opens now; what the kernel refuses of v4 is refused by name: a
	// superblock without the dirv2 bit (version 1 directories).
	v4 := testimg.Copy(t, "v4")
	vf, err := os.OpenFile(v4, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	var vn [2]byte
	if _, err := vf.ReadAt(vn[:], 100); err != nil {
		t.Fatal(err)
	}
	binary.BigEndian.PutUint16(vn[:], binary.BigEndian.Uint16(vn[:])&^0x2000)
	if _, err := vf.WriteAt(vn[:], 100); err != nil {
		t.Fatal(err)
	}
	vf.Close()
	// Devices besides the data device: refused by name until supported.
	mkfs := func(name string, opts ...string) string {
		p := write(name, nil)
		if err := os.Truncate(p, 320<<20); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("mkfs.xfs", append([]string{"-q", "-f", "-K"}, append(opts, p)...)...).CombinedOutput(); err != nil {
			t.Fatalf("mkfs.xfs %v: %v\n%s", opts, err, out)
		}
		return p
	}
	rtdev, logdev := write("rt.dev", nil), write("log.dev", nil)
	for _, p := range []string{rtdev, logdev} {
		if err := os.Truncate(p, 80<<20); err != nil {
			t.Fatal(err)
		}
	}
	realtime := mkfs("realtime.img", "-m", "rmapbt=0,reflink=0", "-r", "rtdev="+rtdev)
	extlog := mkfs("extlog.img", "-l", "logdev="+logdev+",size=64m")

	cases := []struct {
		name, path, want string
		code             int
	}{
		{"empty", write("empty.img", nil), "image is empty", exitRefused},
		{"truncated", write("truncated.img", head), "truncated image", exitRefused},
		{"random", write("random.img", rnd), "not an XFS filesystem", exitRefused},
		{"ext4", ext4, "ext2/3/4", exitRefused},
		{"v4 dirv1", v4, "version 1 directories", exitRefused},
		{"missing", filepath.Join(dir, "nope.img"), "no such file", exitRefused},
		{"realtime", realtime, "does not support realtime devices", exitRefused},
		{"external log", extlog, "external log device", exitRefused},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var before [32]byte
			if _, err := os.Stat(c.path); err == nil {
				before = sha(t, c.path)
			}
			for _, args := range [][]string{{"dump", c.path, "sb"}, {"dump", c.path, "ag/0/bnobt/records"}, {"check", c.path}, {"repair", c.path, "all"}} {
				out, stderr, code := runCLI(args...)
				if code != c.code || !strings.Contains(stderr, c.want) {
					t.Errorf("%v: exit %d, stderr %q; want exit %d naming %q", args, code, stderr, c.code, c.want)
				}
				if out != "" {
					t.Errorf("%v printed %q on stdout", args, out)
				}
			}
			{
				mnt := t.TempDir()
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				var stderr bytes.Buffer
				cmd := exec.CommandContext(ctx, buildBinary(t), "mount", c.path, mnt)
				cmd.Stderr = &stderr
				err := cmd.Run()
				t.Cleanup(func() { exec.Command("umount", "-l", mnt).Run() })
				if code := exitOf(err); code != c.code || !strings.Contains(stderr.String(), c.want) {
					t.Errorf("mount: exit %d, stderr %q; want exit %d naming %q", code, stderr.String(), c.code, c.want)
				}
				if strings.Contains(stderr.String(), "panic") {
					t.Errorf("mount panicked: %s", stderr.String())
				}
			}
			if _, err := os.Stat(c.path); err == nil && sha(t, c.path) != before {
				t.Errorf("%s changed", c.path)
			}
		})
	}
}
