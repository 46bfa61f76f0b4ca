package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xfsbox/xfsbox/internal/campaign"
	"github.com/xfsbox/xfsbox/internal/judge"
	"github.com/xfsbox/xfsbox/internal/testimg"
	"github.com/xfsbox/xfsbox/repair/store"
)

// killStart is an image a kill round starts from: a test image, maybe
// damaged so that the repair has real work to do.
type killStart struct {
	name    string
	profile string
	damage  *campaign.Case // nil: the image as generated (clean)
	master  string         // the start image, copied for every round
	hashes  map[string]string
	codes   []string // our check's codes before any repair
	corrupt bool
}

// killOp is one way to run a repair: the binary's repair command, or a
// mount and a write to an AG's repair file.
type killOp struct {
	kind   string // "cli", "mount", or "sandbox" (a --sandbox mount: the repair, then commit)
	ag     int    // -1: repair all
	what   string // structure(s), "all"
	force  bool
	covers bool // it repairs the start image's damage
}

func (o killOp) String() string {
	s := o.kind + ":"
	if o.ag >= 0 {
		s += fmt.Sprintf("ag%d:", o.ag)
	}
	s += strings.ReplaceAll(o.what, " ", "+")
	if o.force {
		s += ":force"
	}
	return s
}

// cliArgs are the repair command's arguments for the op (a mount op is
// rerun through the command line).
func (o killOp) cliArgs(img string) []string {
	args := []string{"repair", img}
	if o.ag >= 0 {
		args = append(args, "--ag", strconv.Itoa(o.ag))
	}
	if o.force {
		args = append(args, "--force")
	}
	return append(args, strings.Fields(o.what)...)
}

// TestKillDuringRepair is the SIGKILL loop: it runs a repair with the
// real binary (repair --ag N --force STRUCT, repair all, or a mount
// and `echo bnobt > MNT/ag/N/repair`, or the same in a --sandbox mount
// followed by `echo commit > MNT/ctl`) on a copy of a small image, clean
// or with a damaged bnobt leaf or AGF, and kills it with SIGKILL after
// a random delay, uniform in [0, 1.2 x) the time an uninterrupted run
// takes. Then, after lazily unmounting a dead FUSE mount, it reopens
// the image read-write as the next xfsbox would (a complete journal is
// replayed, an incomplete one dropped) and wants: no journal left; our
// check no worse than before (no finding code that was not there) and
// clean when the run had completed; xfs_repair -n clean when the run
// had committed or the image was clean to begin with; every file's
// sha256 as generated (read through a read-only kernel mount); and a
// rerun of the repair completing with xfs_repair -n and our check
// clean.
//
// XFSBOX_KILL_ROUNDS sets the number of kills (default 12; make
// campaign runs 240), XFSBOX_KILL_SEED the seed (default: the clock,
// logged, so that a failure can be replayed).
func TestKillDuringRepair(t *testing.T) {
	testimg.Require(t, "root", "loop", "xfsprogs", "fuse")
	rounds := envInt(t, "XFSBOX_KILL_ROUNDS", 12)
	seed := uint64(time.Now().UnixNano() % 1e6)
	if s := os.Getenv("XFSBOX_KILL_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("XFSBOX_KILL_SEED=%q: %v", s, err)
		}
		seed = v
	}
	t.Logf("%d rounds, seed %d (replay: XFSBOX_KILL_SEED=%d XFSBOX_KILL_ROUNDS=%d go test -run TestKillDuringRepair ./cmd/xfsbox/)", rounds, seed, seed, rounds)
	bin := buildBinary(t)
	dir := t.TempDir()

	bnobt, agf := bnobtLeafCase("allfeatures", 1), agfCase("defaults", 2)
	starts := []*killStart{
		{name: "allfeatures", profile: "allfeatures"},
		{name: "defaults", profile: "defaults"},
		{name: "allfeatures+bnobt-leaf", profile: "allfeatures", damage: &bnobt},
		{name: "defaults+agf", profile: "defaults", damage: &agf},
	}
	for i, s := range starts {
		s.master = filepath.Join(dir, fmt.Sprintf("start%d.img", i))
		copyTestImage(t, testimg.Image(t, s.profile), s.master)
		if s.damage != nil {
			corrupt(t, s.master, *s.damage)
		}
		s.hashes = testimg.Hashes(t, s.profile)
		s.codes, s.corrupt = ourCodes(t, s.master)
		if clean, _ := judge.XfsRepairN(t, s.master); clean == s.corrupt {
			t.Fatalf("%s: our check (corrupt %v: %v) and xfs_repair -n (clean %v) disagree before any repair", s.name, s.corrupt, s.codes, clean)
		}
		t.Logf("start %s: codes before %v", s.name, s.codes)
	}

	rng := rand.New(rand.NewPCG(seed, 0x6b696c6c))
	durations := map[string]time.Duration{}
	stats := map[string]int{}
	work := filepath.Join(dir, "work")
	if err := os.Mkdir(work, 0o755); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for round := 0; round < rounds; round++ {
		s := starts[rng.IntN(len(starts))]
		op := pickOp(rng, s)
		key := s.name + " " + op.String()
		if _, ok := durations[key]; !ok {
			d, err := calibrate(bin, work, s, op)
			if err != nil {
				t.Fatalf("round %d (seed %d): uninterrupted %s: %v", round, seed, key, err)
			}
			durations[key] = d
		}
		delay := time.Duration(rng.Float64() * 1.2 * float64(durations[key]))
		desc := fmt.Sprintf("round %d (seed %d): %s, kill after %v of %v", round, seed, key, delay.Round(time.Millisecond), durations[key].Round(time.Millisecond))
		errc := make(chan error, 1)
		var res killResult
		go func() {
			r, err := killRound(bin, work, s, op, delay)
			res = r
			errc <- err
		}()
		select {
		case err := <-errc:
			if err != nil {
				t.Fatalf("%s: %v", desc, err)
			}
		case <-time.After(10 * time.Minute):
			t.Fatalf("%s: the round did not finish within 10 minutes", desc)
		}
		t.Logf("%s: %s", desc, res)
		stats[res.when]++
		stats["journal "+res.journal]++
		if res.stuck {
			stats["killed mount stuck until umount -f"]++
			t.Logf("%s: the killed mount could not exit (a FLUSH to its own mount, go-fuse's poll hack) until umount -f", desc)
		}
	}
	t.Logf("%d kills in %v: %v", rounds, time.Since(start).Round(time.Second), stats)
}

// pickOp draws an operation for a start image: on a damaged one, a
// repair that covers the damage (so that killing it interrupts a real
// repair); on a clean one, a forced rebuild or repair all.
func pickOp(rng *rand.Rand, s *killStart) killOp {
	kind := []string{"cli", "cli", "mount", "sandbox"}[rng.IntN(4)]
	if s.damage != nil {
		switch rng.IntN(3) {
		case 0:
			return killOp{kind: "cli", ag: -1, what: "all", covers: true}
		default:
			return killOp{kind: kind, ag: s.damage.AG, what: "bnobt", covers: true}
		}
	}
	if kind == "cli" && rng.IntN(3) == 0 {
		return killOp{kind: "cli", ag: -1, what: "all", force: rng.IntN(2) == 0}
	}
	structs := []string{"bnobt", "inobt", "agi", "bnobt inobt"}
	if s.profile == "allfeatures" {
		structs = append(structs, "rmapbt", "refcountbt", "all")
	}
	what := structs[rng.IntN(len(structs))]
	if kind != "cli" {
		what = "bnobt"
	}
	return killOp{kind: kind, ag: rng.IntN(4), what: what, force: true}
}

// killResult says how a round went, for the log.
type killResult struct {
	when    string // "killed mid-run", "killed after the run"
	journal string // what reopening did with the journal
	after   []string
	stuck   bool     // the killed mount could not exit until umount -f
	phases  []string // how long each step took
	last    time.Time
}

func (r killResult) String() string {
	return fmt.Sprintf("%s, journal %s, codes after the kill %v (%s)", r.when, r.journal, r.after, strings.Join(r.phases, " "))
}

// phase notes how long the step that just ended took.
func (r *killResult) phase(name string) {
	now := time.Now()
	r.phases = append(r.phases, fmt.Sprintf("%s %v", name, now.Sub(r.last).Round(10*time.Millisecond)))
	r.last = now
}

// opRun is a repair running in the background.
type opRun struct {
	done   chan struct{} // closed when the repair has ended (or was killed)
	ok     bool          // it completed successfully
	forced bool          // the killed mount needed umount -f to exit
	detail string
	// kill sends SIGKILL, waits for the process to exit and lazily
	// unmounts what it left mounted; finish ends a run that completed
	// (unmounts a mount and waits for it to exit).
	kill, finish func() error
}

// startOp starts op on img: the repair command, or a mount and, as soon
// as the tree answers, a write to the AG's repair file.
func startOp(bin, img string, op killOp) (*opRun, error) {
	r := &opRun{done: make(chan struct{})}
	var args []string
	mnt := ""
	if op.kind == "cli" {
		args = op.cliArgs(img)
	} else {
		var err error
		if mnt, err = os.MkdirTemp(filepath.Dir(img), "mnt"); err != nil {
			return nil, err
		}
		args = []string{"mount", img, mnt}
		if op.kind == "sandbox" {
			args = []string{"mount", "--sandbox", img, mnt}
		}
	}
	cmd := exec.Command(bin, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	waitExit := func(d time.Duration) error {
		select {
		case <-exited:
			return nil
		case <-time.After(d):
			return fmt.Errorf("%s did not exit within %v", args[0], d)
		}
	}
	r.kill = func() error {
		forced, err := killServer(cmd.Process, exited, mnt)
		r.forced = forced
		if mnt != "" {
			lazyUnmount(mnt)
			if isMounted(mnt) {
				return fmt.Errorf("%s still mounted after fusermount3 -u -z", mnt)
			}
			os.Remove(mnt)
		}
		return err
	}
	if mnt == "" {
		go func() {
			<-exited
			r.ok = waitErr == nil
			r.detail = fmt.Sprintf("exit %d %s", exitOf(waitErr), strings.TrimSpace(stderr.String()))
			close(r.done)
		}()
		r.finish = func() error { return waitExit(time.Minute) }
		return r, nil
	}
	line := op.what
	if op.force {
		line += " force"
	}
	go func() {
		defer close(r.done)
		deadline := time.Now().Add(30 * time.Second)
		for {
			select {
			case <-exited:
				r.detail = "the mount exited before it answered: " + stderr.String()
				return
			default:
			}
			if _, err := os.Stat(filepath.Join(mnt, "ctl")); err == nil {
				break
			}
			if time.Now().After(deadline) {
				r.detail = "the mount did not answer within 30s"
				return
			}
			time.Sleep(2 * time.Millisecond)
		}
		err := writeCtl(filepath.Join(mnt, fmt.Sprintf("ag/%d/repair", op.ag)), line, 2*time.Minute)
		r.detail = fmt.Sprintf("echo %s > ag/%d/repair: %v", line, op.ag, err)
		if err == nil && op.kind == "sandbox" {
			err = writeCtl(filepath.Join(mnt, "ctl"), "commit", 2*time.Minute)
			r.detail += fmt.Sprintf("; echo commit > ctl: %v", err)
		}
		r.ok = err == nil
	}()
	r.finish = func() error {
		select {
		case <-exited:
		default:
			if out, err := exec.Command("fusermount3", "-u", mnt).CombinedOutput(); err != nil {
				return fmt.Errorf("fusermount3 -u: %v %s", err, out)
			}
		}
		err := waitExit(30 * time.Second)
		os.Remove(mnt)
		return err
	}
	return r, nil
}

// calibrate runs op uninterrupted on a copy of the start image and
// returns how long it took.
func calibrate(bin, work string, s *killStart, op killOp) (time.Duration, error) {
	img := filepath.Join(work, "calibrate.img")
	defer os.Remove(img)
	if err := cpSparse(s.master, img); err != nil {
		return 0, err
	}
	start := time.Now()
	r, err := startOp(bin, img, op)
	if err != nil {
		return 0, err
	}
	select {
	case <-r.done:
	case <-time.After(3 * time.Minute):
		r.kill()
		return 0, errors.New("did not finish within 3 minutes")
	}
	d := time.Since(start)
	if err := r.finish(); err != nil {
		return 0, err
	}
	if !r.ok {
		return 0, fmt.Errorf("failed: %s", r.detail)
	}
	return d, nil
}

// killRound copies the start image, runs op on it, kills it after
// delay, and judges what the kill left.
func killRound(bin, work string, s *killStart, op killOp, delay time.Duration) (res killResult, err error) {
	img := filepath.Join(work, "image.img")
	defer os.Remove(img)
	res.last = time.Now()
	if err := cpSparse(s.master, img); err != nil {
		return res, err
	}
	res.phase("copy")
	r, err := startOp(bin, img, op)
	if err != nil {
		return res, err
	}
	select {
	case <-r.done:
	case <-time.After(delay):
	}
	if err := r.kill(); err != nil {
		return res, err
	}
	select {
	case <-r.done:
	case <-time.After(30 * time.Second):
		return res, errors.New("the repair's writer did not return within 30s of the kill")
	}
	completed := r.ok
	res.phase("run+kill")
	res.when = "killed mid-run"
	if completed {
		res.when = "killed after the run"
	}
	if r.forced {
		res.stuck = true
	}

	outcome, err := reopen(img)
	if err != nil {
		return res, fmt.Errorf("reopening after the kill: %w", err)
	}
	res.journal = [...]string{"none", "replayed", "dropped"}[outcome.Action]
	if names, err := os.ReadDir(work); err != nil || len(names) != 1 {
		return res, fmt.Errorf("beside the image after reopening: %v %v", names, err)
	}
	corruptNow, codes, err := campaign.OurCheck(context.Background(), img)
	if err != nil {
		return res, err
	}
	res.after = codes
	res.phase("reopen+check")
	if n := newCodes(s.codes, codes); len(n) > 0 {
		return res, fmt.Errorf("new findings after the kill: %v (before %v; the run: %s)", n, s.codes, r.detail)
	}
	if completed && corruptNow {
		return res, fmt.Errorf("a completed repair left findings %v (the run: %s)", codes, r.detail)
	}
	committed := completed || (op.ag >= 0 && outcome.Action == store.JournalReplayed)
	clean, out := xfsRepairN(img)
	if !clean && (!s.corrupt || (committed && op.covers)) {
		return res, fmt.Errorf("xfs_repair -n is not clean after the kill (start clean %v, committed %v; journal %s; the run: %s):\n%s",
			!s.corrupt, committed, res.journal, r.detail, strings.Join(campaign.Complaint(out, 12), "\n"))
	}
	res.phase("xfs_repair")
	hashed := false
	if clean {
		if err := fileHashes(img, s.hashes); err != nil {
			return res, fmt.Errorf("after the kill: %w", err)
		}
		hashed = true
		res.phase("hashes")
	}

	rerun := runBin(bin, 3*time.Minute, op.cliArgs(img)...)
	if rerun.code != 0 || panicked(rerun.stderr) {
		return res, fmt.Errorf("the rerun: %s", rerun)
	}
	res.phase("rerun")
	if clean, out := xfsRepairN(img); !clean {
		return res, fmt.Errorf("xfs_repair -n after the rerun:\n%s", strings.Join(campaign.Complaint(out, 12), "\n"))
	}
	if corruptNow, codes, err := campaign.OurCheck(context.Background(), img); err != nil || corruptNow {
		return res, fmt.Errorf("our check after the rerun: %v %v", codes, err)
	}
	res.phase("judges")
	if !hashed {
		if err := fileHashes(img, s.hashes); err != nil {
			return res, fmt.Errorf("after the rerun: %w", err)
		}
		res.phase("hashes")
	}
	return res, nil
}

// xfsRepairN is judge.XfsRepairN without a testing.TB (rounds run on
// their own goroutine).
func xfsRepairN(img string) (bool, string) {
	detected, out, err := campaign.XfsRepairN(context.Background(), img)
	return err == nil && !detected, out
}
