package check

import (
	"fmt"
	"sort"
	"sync"
)

// Severity ranks a finding, as xfs_scrub does.
type Severity int

const (
	// Corrupt: a structure is wrong on its own (bad magic, CRC,
	// ordering, out-of-range value).
	Corrupt Severity = iota
	// XrefMismatch: structures disagree with each other (counters,
	// bnobt vs cntbt, free vs used space, rmap vs owners).
	XrefMismatch
	// Preen: harmless but not how the kernel would leave it.
	Preen
	// Warning: suspicious, not proven wrong.
	Warning
)

var severityNames = [...]string{"corrupt", "xref", "preen", "warning"}

func (s Severity) String() string {
	if s < 0 || int(s) >= len(severityNames) {
		return fmt.Sprintf("severity(%d)", int(s))
	}
	return severityNames[s]
}

// MarshalText makes severities print by name in JSON.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Finding is one problem a check found. Code is stable ("bnobt.order",
// "agf.freeblks"): scripts match on it. AG and Block are -1 when not
// applicable; Ino is the inode a finding above the AG is about (0 when
// none).
type Finding struct {
	Code      string   `json:"code"`
	Severity  Severity `json:"severity"`
	AG        int64    `json:"ag"`
	Structure string   `json:"structure"`
	Block     int64    `json:"block"`
	Ino       uint64   `json:"ino,omitempty"`
	Message   string   `json:"message"`
}

func (f Finding) String() string {
	where := f.Structure
	if f.AG >= 0 {
		where = fmt.Sprintf("ag %d %s", f.AG, f.Structure)
	}
	if f.Block >= 0 {
		where += fmt.Sprintf(" block %d", f.Block)
	}
	return fmt.Sprintf("%s [%s] %s: %s", f.Code, f.Severity, where, f.Message)
}

// Findings collects findings from concurrent checkers. It keeps at most
// PerCodeLimit findings of each (AG, code) and counts the rest, so a
// trashed image cannot make a check use unbounded memory.
type Findings struct {
	mu         sync.Mutex
	list       []Finding
	perKey     map[findingKey]int
	Suppressed int
	// OnAdd, if set, sees every finding kept (for streaming output).
	OnAdd func(Finding)
}

type findingKey struct {
	ag   int64
	code string
}

// PerCodeLimit bounds the findings kept per AG and code.
const PerCodeLimit = 1000

// Add records a finding.
func (fs *Findings) Add(f Finding) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.perKey == nil {
		fs.perKey = map[findingKey]int{}
	}
	k := findingKey{f.AG, f.Code}
	if fs.perKey[k] >= PerCodeLimit {
		fs.Suppressed++
		return
	}
	fs.perKey[k]++
	fs.list = append(fs.list, f)
	if fs.OnAdd != nil {
		fs.OnAdd(f)
	}
}

// Addf records a finding built from its parts.
func (fs *Findings) Addf(code string, sev Severity, ag int64, structure string, block int64, format string, args ...any) {
	fs.Add(Finding{Code: code, Severity: sev, AG: ag, Structure: structure, Block: block, Message: fmt.Sprintf(format, args...)})
}

// List returns the findings sorted by AG, structure, block and code.
func (fs *Findings) List() []Finding {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	out := append([]Finding(nil), fs.list...)
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.AG != b.AG {
			return a.AG < b.AG
		}
		if a.Structure != b.Structure {
			return a.Structure < b.Structure
		}
		if a.Block != b.Block {
			return a.Block < b.Block
		}
		return a.Code < b.Code
	})
	return out
}

// Corrupt reports whether any finding is corruption or a cross-reference
// mismatch (the ones that make a check exit 1).
func (fs *Findings) Corrupt() bool {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for _, f := range fs.list {
		if f.Severity == Corrupt || f.Severity == XrefMismatch {
			return true
		}
	}
	return fs.Suppressed > 0
}
