package campaign

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"sync"
	"time"
)

// Hook runs after both judges and before the image is restored, on the
// corrupted image (where a repair step will go: repair, then judge
// again, recording what it found in r.Extra). It is called only for
// cases whose fuzz changed something and were judged without error. It
// returns wroteElsewhere when it may have written outside the object's
// block and its AG's header sectors: Run then restores the whole image
// from Options.Pristine.
type Hook func(ctx context.Context, image string, r *Result) (wroteElsewhere bool, err error)

// Options tune Run.
type Options struct {
	// Hook, if set, runs between detection and restore.
	Hook Hook
	// Pristine is the unmodified image the workers' copies were made
	// from: the source of a full restore, and what Verify compares with.
	Pristine string
	// Verify compares every worker's image with Pristine, byte for byte,
	// once all cases are done.
	Verify bool
	// Progress, if set, is called after each case (serialised).
	Progress func(done, total int, r *Result)
}

// Run applies and judges every case, one worker per image in images
// (each a private, writable copy of the image the cases were enumerated
// from), restoring the image after each case. Results are in the order of
// cases. The error is for what stops the campaign: a restore that
// failed, a failed Verify, cancellation; a case that fails is a Failed
// result, not an error.
func Run(ctx context.Context, images []string, cases []Case, opts Options) ([]Result, error) {
	if len(images) == 0 {
		return nil, errors.New("campaign: no images to work on")
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	results := make([]Result, len(cases))
	next := make(chan int)
	go func() {
		defer close(next)
		for i := range cases {
			select {
			case next <- i:
			case <-ctx.Done():
				return
			}
		}
	}()
	var (
		mu   sync.Mutex
		done int
		wg   sync.WaitGroup
	)
	for _, img := range images {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				r := &results[i]
				if err := runCase(ctx, img, cases[i], r, opts); err != nil {
					cancel(err)
					return
				}
				mu.Lock()
				done++
				if opts.Progress != nil {
					opts.Progress(done, len(cases), r)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return results, err
	}
	if opts.Verify {
		if opts.Pristine == "" {
			return results, errors.New("campaign: Verify needs Options.Pristine")
		}
		for _, img := range images {
			if err := SameBytes(ctx, opts.Pristine, img); err != nil {
				return results, err
			}
		}
	}
	return results, nil
}

// runCase does one case on img into r. The error is for a restore that
// failed: the image can no longer be trusted.
func runCase(ctx context.Context, img string, c Case, r *Result, opts Options) error {
	start := time.Now()
	defer func() { r.Duration = time.Since(start) }()
	r.Case = c
	a, err := ApplyDetail(ctx, img, c)
	r.ApplyErr = err
	if a == nil {
		return nil // nothing was written
	}
	r.Value, r.Changed = a.Value, a.Changed
	wroteElsewhere := false
	if err == nil && a.Changed {
		t := time.Now()
		r.RepairDetected, r.RepairOutput, r.RepairErr = XfsRepairN(ctx, img)
		r.RepairTime = time.Since(t)
		r.RepairNoted = r.RepairErr == nil && !r.RepairDetected && len(Complaint(r.RepairOutput, 1)) > 0
		t = time.Now()
		r.OurDetected, r.Codes, r.OurErr = OurCheck(ctx, img)
		r.CheckTime = time.Since(t)
		if opts.Hook != nil && r.RepairErr == nil && r.OurErr == nil {
			wroteElsewhere, r.HookErr = opts.Hook(ctx, img, r)
		}
	}
	if err := a.Restore(); err != nil {
		return fmt.Errorf("campaign: %s: %w", c, err)
	}
	if wroteElsewhere {
		if err := FullRestore(ctx, opts.Pristine, img); err != nil {
			return fmt.Errorf("campaign: %s: %w", c, err)
		}
	}
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	return nil
}

// FullRestore copies pristine over image (sparse, reflinked where the
// filesystem can), for when a hook wrote anywhere.
func FullRestore(ctx context.Context, pristine, image string) error {
	if pristine == "" {
		return errors.New("campaign: a full restore needs Options.Pristine")
	}
	out, err := exec.CommandContext(ctx, "cp", "--sparse=always", "--reflink=auto", pristine, image).CombinedOutput()
	if err != nil {
		return fmt.Errorf("campaign: restoring %s from %s: %v\n%s", image, pristine, err, out)
	}
	return nil
}
