package campaign

import (
	"errors"
	"time"
)

// Outcome classifies a case.
type Outcome string

const (
	// Miss: xfs_repair -n detected a problem, our check did not. A bug.
	Miss Outcome = "miss"
	// Extra: we detected a problem, xfs_repair -n did not.
	Extra Outcome = "extra"
	// Both detected a problem.
	Both Outcome = "both"
	// Neither detected a problem.
	Neither Outcome = "neither"
	// Unchanged: the fuzz left the object's bytes as they were; the case
	// is not judged.
	Unchanged Outcome = "unchanged"
	// Rejected: xfs_db refused the fuzz command.
	Rejected Outcome = "rejected"
	// Failed: the case could not be judged (a tool failed or hung, our
	// check returned an error or panicked, a hook failed).
	Failed Outcome = "failed"
)

// Result is what happened to one case.
type Result struct {
	Case
	// Value is the fuzzed field as xfs_db printed it after the fuzz.
	Value   string
	Changed bool

	RepairDetected bool
	RepairOutput   string
	// RepairNoted: xfs_repair -n exited 0 but said something beyond its
	// progress banners (see Complaint), such as "Metadata corruption
	// detected at ..., xfs_agfl block 0x3/0x200". Not a detection; the
	// report lists those we did not detect either.
	RepairNoted bool

	OurDetected bool
	// Codes are our check's finding codes (see OurCheck).
	Codes []string

	// Errors, by stage. ApplyErr wraps ErrRejected when xfs_db refused
	// the fuzz.
	ApplyErr, RepairErr, OurErr, HookErr error

	// Hook results, for the repair step to come: free-form.
	Extra map[string]string

	Duration, RepairTime, CheckTime time.Duration
}

// Outcome classifies the result.
func (r *Result) Outcome() Outcome {
	switch {
	case errors.Is(r.ApplyErr, ErrRejected):
		return Rejected
	case r.ApplyErr != nil:
		return Failed
	case !r.Changed:
		return Unchanged
	case r.RepairErr != nil:
		return Failed
	case r.RepairDetected && !r.OurDetected:
		// Our check failing where xfs_repair found a problem is a miss
		// whatever the reason.
		return Miss
	case r.OurErr != nil, r.HookErr != nil:
		return Failed
	case r.RepairDetected:
		return Both
	case r.OurDetected:
		return Extra
	}
	return Neither
}

// Err is the first error of the case, or nil.
func (r *Result) Err() error {
	for _, e := range []error{r.ApplyErr, r.RepairErr, r.OurErr, r.HookErr} {
		if e != nil {
			return e
		}
	}
	return nil
}
