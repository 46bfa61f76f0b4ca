package fsys

import (
	"strconv"
)

// AGs says which AGs a check or a repair covers: every AG (the zero
// value, AllAGs) or one (OneAG). It is the one way the engine, the CLI
// and the control files say it.
type AGs struct {
	one  bool
	agno uint32
}

// AllAGs covers every AG.
var AllAGs = AGs{}

// OneAG covers AG agno only.
func OneAG(agno uint32) AGs { return AGs{one: true, agno: agno} }

// One returns the AG when a single one is named.
func (a AGs) One() (agno uint32, ok bool) { return a.agno, a.one }

// All reports whether every AG is covered.
func (a AGs) All() bool { return !a.one }

// String is "all" or the AG's number, as the control files take them.
func (a AGs) String() string {
	if !a.one {
		return "all"
	}
	return strconv.FormatUint(uint64(a.agno), 10)
}

// List returns the AG numbers covered, in order; one AG that the
// filesystem does not have is an error wrapping ErrBadAG.
func (fs *FS) List(a AGs) ([]uint32, error) {
	if a.one {
		if err := fs.ValidateAG(a.agno); err != nil {
			return nil, err
		}
		return []uint32{a.agno}, nil
	}
	ags := make([]uint32, fs.Geo.AGCount)
	for i := range ags {
		ags[i] = uint32(i)
	}
	return ags, nil
}

// Progress hears how long work goes: the phase that runs and, where it
// can be counted, how much of it is done out of a total (both 0 when it
// cannot). Checks and repairs report through it alike.
type Progress func(phase string, done, total int64)

// Report calls p if it is set.
func (p Progress) Report(phase string, done, total int64) {
	if p != nil {
		p(phase, done, total)
	}
}
