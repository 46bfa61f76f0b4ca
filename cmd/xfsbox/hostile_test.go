package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xfsbox/xfsbox/internal/campaign"
	"github.com/xfsbox/xfsbox/internal/testimg"
)

// Bounds of the hostile-image tests: one command, one file of the
// mounted tree, one walk of the whole tree.
const (
	hostileRunBound  = 60 * time.Second
	hostileFileBound = 20 * time.Second
	hostileWalkBound = 3 * time.Minute
	// hostileReadCap bounds what is read of one file of the tree (MNT/image
	// is the whole image).
	hostileReadCap = 16 << 20
)

// hostileImage is a damaged copy of a test image and how it was made.
type hostileImage struct {
	path    string
	profile string
	how     string // the command that damaged it, to reproduce
}

// TestHostileCampaignImages runs check and a read-only mount (the
// whole tree walked: every directory listed, every file read) over
// images damaged by a sample of the corruption campaign's cases: no
// panic, no hang, no write (see hostileLook). XFSBOX_HOSTILE_CASES
// sets the number of cases per profile (default 4; make campaign: 40).
func TestHostileCampaignImages(t *testing.T) {
	testimg.Require(t, "root", "xfsprogs", "fuse")
	n := envInt(t, "XFSBOX_HOSTILE_CASES", 4)
	bin := buildBinary(t)
	for _, profile := range []string{"allfeatures", "defaults"} {
		cases := campaign.Sample(campaign.Cases(t, profile), 1, 6)
		rng := rand.New(rand.NewPCG(6, uint64(len(cases))))
		rng.Shuffle(len(cases), func(i, j int) { cases[i], cases[j] = cases[j], cases[i] })
		done := 0
		for _, c := range cases {
			if done == n {
				break
			}
			img := filepath.Join(t.TempDir(), profile+".img")
			copyTestImage(t, testimg.Image(t, profile), img)
			a, err := campaign.ApplyDetail(context.Background(), img, c)
			if err != nil || !a.Changed {
				continue // rejected by xfs_db, or a no-op fuzz
			}
			done++
			t.Run(fmt.Sprintf("%s/%s/%s/%s", profile, c.Object, c.Field, c.Verb), func(t *testing.T) {
				hostileLook(t, bin, hostileImage{img, profile, c.Command(img)})
			})
		}
	}
}

// blocktrashRun is one xfs_db blocktrash of a test image.
type blocktrashRun struct {
	profile string
	seed    int
	mode    int      // 0 zero, 1 set, 2 flip, 3 randomise the chosen bits
	count   int      // blocks trashed
	types   []string // block types (xfs_db blockget's names); none: any metadata
}

// btreeTypes are blockget's names of the AG btrees and the secondary
// superblocks.
var btreeTypes = []string{"btbno", "btcnt", "btino", "btfino", "btrmap", "btrefcnt", "sb"}

func (b blocktrashRun) command() string {
	c := fmt.Sprintf("blocktrash -n %d -s %d -%d", b.count, b.seed, b.mode)
	for _, ty := range b.types {
		c += " -t " + ty
	}
	return c
}

// trash copies profile's image and trashes it.
func (b blocktrashRun) trash(t *testing.T) hostileImage {
	t.Helper()
	img := filepath.Join(t.TempDir(), b.profile+".img")
	copyTestImage(t, testimg.Image(t, b.profile), img)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "xfs_db", "-x", "-c", "blockget", "-c", b.command(), img).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "blocktrash: ") {
		t.Fatalf("xfs_db -x -c blockget -c '%s': %v\n%s", b.command(), err, out)
	}
	return hostileImage{img, b.profile, fmt.Sprintf("xfs_db -x -c blockget -c '%s' IMAGE (a copy of the %s image)", b.command(), b.profile)}
}

// blocktrashRuns are the trashings of the hostile tests: seeds 1..n,
// every mode in turn, any metadata block or only btree blocks, on both
// profiles.
func blocktrashRuns(n int) []blocktrashRun {
	var runs []blocktrashRun
	for seed := 1; seed <= n; seed++ {
		b := blocktrashRun{profile: []string{"allfeatures", "defaults"}[seed%2], seed: seed, mode: seed % 4, count: 4 + seed%13}
		if seed%3 != 0 {
			b.types = btreeTypes
		}
		runs = append(runs, b)
	}
	return runs
}

// TestHostileTrashedImages: check and a read-only mount over copies of
// the test images with random metadata blocks trashed by xfs_db's
// blocktrash (every mode; any metadata, or btree blocks only): no
// panic, no hang, no write. XFSBOX_HOSTILE_SEEDS sets the number of
// seeds (default 4; make campaign: 40).
func TestHostileTrashedImages(t *testing.T) {
	testimg.Require(t, "root", "xfsprogs", "fuse")
	bin := buildBinary(t)
	for _, b := range blocktrashRuns(envInt(t, "XFSBOX_HOSTILE_SEEDS", 4)) {
		t.Run(strings.ReplaceAll(b.profile+" "+b.command(), " ", "_"), func(t *testing.T) {
			hostileLook(t, bin, b.trash(t))
		})
	}
}

// TestHostileHugeLevel: a tree height of 2^32-1 in the AGF or the AGI
// (what blocktrash -1 made of AGI 3 with seed 29 on the defaults image)
// must not hang or exhaust memory when the tree's shape is shown (it
// did: renderShape looped over every level the header claimed, until
// the process ran out of memory; fixed in 7fadde6).
func TestHostileHugeLevel(t *testing.T) {
	testimg.Require(t, "root", "xfsprogs", "fuse")
	bin := buildBinary(t)
	for _, c := range [][]string{{"agf 1", "write -d bnolevel 4294967295"}, {"agi 2", "write -d level 4294967295"}} {
		t.Run(strings.ReplaceAll(c[0]+" "+c[1], " ", "_"), func(t *testing.T) {
			img := filepath.Join(t.TempDir(), "defaults.img")
			copyTestImage(t, testimg.Image(t, "defaults"), img)
			if out, err := exec.Command("xfs_db", "-x", "-c", c[0], "-c", c[1], img).CombinedOutput(); err != nil {
				t.Fatalf("xfs_db: %v %s", err, out)
			}
			hostileLook(t, bin, hostileImage{img, "defaults", fmt.Sprintf("xfs_db -x -c '%s' -c '%s' IMAGE", c[0], c[1])})
		})
	}
}

// TestHostileRepair: repair --force IMAGE all over trashed copies
// either refuses or repairs, bounded in time and without a panic; when
// it says it succeeded, our check finds nothing corrupt afterwards.
// XFSBOX_HOSTILE_REPAIRS sets the number of seeds (default 3; make
// campaign: 30).
func TestHostileRepair(t *testing.T) {
	testimg.Require(t, "root", "xfsprogs")
	bin := buildBinary(t)
	outcomes := map[int]int{}
	for _, b := range blocktrashRuns(envInt(t, "XFSBOX_HOSTILE_REPAIRS", 3)) {
		b.seed += 1000 // other images than TestHostileTrashedImages'
		t.Run(strings.ReplaceAll(b.profile+" "+b.command(), " ", "_"), func(t *testing.T) {
			h := b.trash(t)
			r := runBin(bin, 2*hostileRunBound, "repair", "--force", h.path, "all")
			outcomes[r.code]++
			judgeRun(t, h, "repair --force IMAGE all", r)
			if r.code != exitOK {
				if !strings.Contains(r.stderr, "xfsbox repair: ") && r.code != exitCorrupt {
					t.Errorf("%s: repair exited %d without saying why: %q", h.how, r.code, r.stderr)
				}
				return
			}
			if codes, corrupt := ourCodes(t, h.path); corrupt {
				t.Errorf("%s: repair --force all succeeded but our check finds %v afterwards", h.how, codes)
			}
		})
	}
	t.Logf("repair exit codes: %v", outcomes)
}

// judgeRun fails the test when a run of the binary panicked, hung or
// exited with a code exit.go does not document for it.
func judgeRun(t *testing.T, h hostileImage, what string, r binResult) {
	t.Helper()
	switch {
	case r.timedOut:
		t.Errorf("HANG: %s on %s: %s", what, h.how, r)
	case panicked(r.stderr):
		t.Errorf("PANIC: %s on %s: %s", what, h.how, r)
	case !documentedExit(r.code):
		t.Errorf("%s on %s: %s (want 0, 1, 3 or 4)", what, h.how, r)
	}
}

// hostileLook runs `xfsbox check` and a read-only mount over a damaged
// image: every directory of the tree listed, every file read (at most
// hostileReadCap bytes of each), each bounded in time. Nothing may
// panic, hang or exit with an undocumented code, and nothing may
// write: the image hashes the same afterwards and no file appears
// beside it.
func hostileLook(t *testing.T, bin string, h hostileImage) {
	t.Helper()
	t.Logf("damage: %s", h.how)
	dir := filepath.Dir(h.path)
	sum, names := sparseSum(t, h.path), dirNames(t, dir)
	defer func() {
		if sparseSum(t, h.path) != sum {
			t.Errorf("WRITE: the image changed (check or read-only mount) after %s", h.how)
		}
		if after := dirNames(t, dir); !slices.Equal(after, names) {
			t.Errorf("WRITE: beside the image before %v, after %v", names, after)
		}
	}()

	r := runBin(bin, hostileRunBound, "check", "--json", h.path)
	judgeRun(t, h, "check", r)

	mnt := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	m := startMountBin(t, bin, h.path, mnt, "--read-only")
	ready, err := m.waitReady(hostileRunBound)
	if err != nil {
		t.Fatalf("HANG: mount --read-only on %s: %v", h.how, err)
	}
	if !ready {
		code, _ := m.wait(time.Second)
		judgeRun(t, h, "mount --read-only", binResult{code: code, stderr: m.stderr.String()})
		return
	}
	files, dirs, failed, err := walkTree(mnt)
	if err != nil {
		m.kill()
		lazyUnmount(mnt)
		t.Fatalf("HANG: walking the mounted tree of %s: %v", h.how, err)
	}
	t.Logf("walked %d directories, read %d files (%d reads failed)", dirs, files, failed)
	if code, exited := m.wait(0); exited {
		t.Fatalf("the mount process died during the walk (exit %d): %s", code, m.stderr)
	}
	if out, err := exec.Command("fusermount3", "-u", mnt).CombinedOutput(); err != nil {
		t.Errorf("fusermount3 -u: %v %s", err, out)
	}
	code, exited := m.wait(30 * time.Second)
	if !exited {
		t.Fatalf("HANG: the mount of %s did not exit after fusermount3 -u", h.how)
	}
	judgeRun(t, h, "mount --read-only", binResult{code: code, stderr: m.stderr.String()})
}

// walkTree lists every directory and reads every file under root, each
// within hostileFileBound, all within hostileWalkBound. Below files/ and
// inodes/ (a file and seven views per inode: hours on a filesystem of
// any size) it takes the first hostileSample entries of each directory. A read or a
// listing may fail (EIO, ...): a damaged image may not render; it
// counts in failed. err reports a hang.
func walkTree(root string) (files, dirs, failed int, err error) {
	deadline := time.Now().Add(hostileWalkBound)
	bounded := func(what string, fn func() error) error {
		if time.Now().After(deadline) {
			return fmt.Errorf("the walk took more than %v", hostileWalkBound)
		}
		errc := make(chan error, 1)
		go func() { errc <- fn() }()
		select {
		case err := <-errc:
			if err != nil {
				failed++
			}
			return nil
		case <-time.After(hostileFileBound):
			return fmt.Errorf("%s: %w after %v", what, errHung, hostileFileBound)
		}
	}
	queue := []string{root}
	for len(queue) > 0 {
		d := queue[0]
		queue = queue[1:]
		var ents []os.DirEntry
		if err := bounded("listing "+d, func() (e error) { ents, e = os.ReadDir(d); return e }); err != nil {
			return files, dirs, failed, err
		}
		dirs++
		if rel, _ := filepath.Rel(root, d); (rel == "files" || rel == "inodes" || strings.HasPrefix(rel, "files/") || strings.HasPrefix(rel, "inodes/")) && len(ents) > hostileSample {
			ents = ents[:hostileSample]
		}
		for _, e := range ents {
			p := filepath.Join(d, e.Name())
			if e.IsDir() {
				queue = append(queue, p)
				continue
			}
			if !e.Type().IsRegular() {
				// files/ holds the image's FIFOs, devices and symlinks as
				// themselves: opening a FIFO waits for a writer on any
				// filesystem, a device node opens the host's device.
				continue
			}
			files++
			if err := bounded("reading "+p, func() error { return readCapped(p) }); err != nil {
				return files, dirs, failed, err
			}
		}
	}
	return files, dirs, failed, nil
}

// hostileSample is how many entries of each directory below files/ and
// inodes/ the walk takes.
const hostileSample = 48

func readCapped(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.CopyN(io.Discard, f, hostileReadCap)
	if errors.Is(err, io.EOF) {
		err = nil
	}
	return err
}

// copyTestImage copies a test image sparsely to dst, writable.
func copyTestImage(t *testing.T, src, dst string) {
	t.Helper()
	if err := cpSparse(src, dst); err != nil {
		t.Fatal(err)
	}
}

// cpSparse copies src to dst sparsely (reflinked where it can), writable.
func cpSparse(src, dst string) error {
	if out, err := exec.Command("cp", "--sparse=always", "--reflink=auto", src, dst).CombinedOutput(); err != nil {
		return fmt.Errorf("cp %s: %v %s", src, err, out)
	}
	return os.Chmod(dst, 0o644)
}
