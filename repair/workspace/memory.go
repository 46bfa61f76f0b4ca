//go:build linux

package workspace

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ErrNoMemory reports that a memfd workspace's reservation is more than
// the machine or the process's memory cgroup can give. Errors that wrap
// it also wrap syscall.ENOMEM.
var ErrNoMemory = errors.New("workspace: not enough memory")

// ErrMemoryPressure is the cause a Watch cancels with when the memory
// the process can take runs short.
var ErrMemoryPressure = errors.New("memory is running short")

// Memory is what memory the process can still take: the machine's and
// its memory cgroup's (the tightest limit from its cgroup up, v1 or
// v2). Page cache (the cgroup's file pages, active and inactive: the
// kernel reclaims both before it runs out; shmem, the memfd workspace
// among it, is on the anon lists and counts) does not count as used.
type Memory struct {
	// Available is the least of MachineAvailable and the cgroup's
	// limit less its usage; -1 when neither could be read.
	Available int64
	// MachineAvailable is /proc/meminfo's MemAvailable; -1 if unknown.
	MachineAvailable int64
	// Cgroup is the directory of the limiting memory cgroup ("" when no
	// cgroup has a limit); Limit and Used its limit and usage.
	Cgroup      string
	Limit, Used int64
	// OOMs counts the OOM events of the cgroups on the way up (v2
	// memory.events oom, v1 memory.oom_control oom_kill): it grows when
	// the kernel kills for a cgroup's limit. (Reaching the limit alone
	// is not counted: reading an image larger than the limit reaches it
	// with page cache the kernel reclaims.)
	OOMs int64
}

func (m Memory) String() string {
	var parts []string
	if m.MachineAvailable >= 0 {
		parts = append(parts, fmt.Sprintf("the machine has %s available", Bytes(m.MachineAvailable)))
	}
	if m.Cgroup != "" {
		parts = append(parts, fmt.Sprintf("memory cgroup %s uses %s of its %s limit", m.Cgroup, Bytes(m.Used), Bytes(m.Limit)))
	}
	if len(parts) == 0 {
		return "available memory unknown"
	}
	return strings.Join(parts, ", ")
}

// Bytes is n in binary units ("1.5 GiB").
func Bytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// memRoot is where ReadMemory looks (/proc and /sys/fs/cgroup), changed
// by tests.
var memRoot = struct{ proc, cgroup string }{"/proc", "/sys/fs/cgroup"}

// ReadMemory reads what memory the process can still take.
func ReadMemory() Memory {
	m := Memory{Available: -1, MachineAvailable: machineAvailable()}
	m.Available = m.MachineAvailable
	for _, dir := range memCgroups() {
		limit, used, hits, ok := cgroupMemory(dir)
		m.OOMs += hits
		if !ok {
			continue
		}
		if free := max(limit-used, 0); m.Available < 0 || free < m.Available || m.Cgroup == "" && free == m.Available {
			m.Available = free
			m.Cgroup, m.Limit, m.Used = dir, limit, used
		}
	}
	return m
}

func machineAvailable() int64 {
	f, err := os.Open(filepath.Join(memRoot.proc, "meminfo"))
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "MemAvailable:"); ok {
			f := strings.Fields(rest)
			if n, err := strconv.ParseInt(f[0], 10, 64); err == nil && len(f) == 2 && f[1] == "kB" {
				return n << 10
			}
		}
	}
	return -1
}

// memCgroups are the memory cgroup directories of the process, its own
// first and then each parent up to the root: v2 (the "0::" line) and v1
// (the "memory" controller's line).
func memCgroups() []string {
	b, err := os.ReadFile(filepath.Join(memRoot.proc, "self", "cgroup"))
	if err != nil {
		return nil
	}
	var dirs []string
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.SplitN(line, ":", 3)
		if len(f) != 3 {
			continue
		}
		var base string
		switch {
		case f[0] == "0" && f[1] == "":
			base = memRoot.cgroup // v2 (unified mounted there)
			if _, err := os.Stat(filepath.Join(base, "cgroup.controllers")); err != nil {
				base = filepath.Join(memRoot.cgroup, "unified")
			}
		case strings.Contains(","+f[1]+",", ",memory,"):
			base = filepath.Join(memRoot.cgroup, "memory")
		default:
			continue
		}
		for p := filepath.Clean("/" + f[2]); ; p = filepath.Dir(p) {
			dirs = append(dirs, filepath.Join(base, p))
			if p == "/" {
				break
			}
		}
	}
	return dirs
}

// cgroupMemory reads one cgroup's limit and usage (ok when it has a
// limit), less its file pages, and how often the OOM killer ran for its
// own limit.
func cgroupMemory(dir string) (limit, used, hits int64, ok bool) {
	num := func(name string) (int64, bool) {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return 0, false
		}
		n, err := strconv.ParseInt(string(bytes.TrimSpace(b)), 10, 64)
		return n, err == nil
	}
	stat := func(key string) int64 {
		b, _ := os.ReadFile(filepath.Join(dir, "memory.stat"))
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, key+" "); ok {
				n, _ := strconv.ParseInt(v, 10, 64)
				return n
			}
		}
		return 0
	}
	if l, lok := num("memory.max"); lok || fileExists(filepath.Join(dir, "memory.max")) { // v2 ("max": no limit)
		c, cok := num("memory.current")
		// memory.events counts the events of every cgroup below too (a
		// child's own small limit is not this process's shortage: a
		// neighbour's test cgroup of 44 MiB hitting its limit cancelled
		// checks in the parent); .local (Linux 5.2) only this cgroup's.
		b, err := os.ReadFile(filepath.Join(dir, "memory.events.local"))
		if err != nil {
			b, _ = os.ReadFile(filepath.Join(dir, "memory.events"))
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "oom "); ok {
				n, _ := strconv.ParseInt(v, 10, 64)
				hits += n
			}
		}
		if !lok || !cok {
			return 0, 0, hits, false
		}
		return l, max(c-stat("inactive_file")-stat("active_file"), 0), hits, true
	}
	l, lok := num("memory.limit_in_bytes") // v1
	u, uok := num("memory.usage_in_bytes")
	b, _ := os.ReadFile(filepath.Join(dir, "memory.oom_control"))
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "oom_kill "); ok {
			hits, _ = strconv.ParseInt(v, 10, 64)
		}
	}
	// v1 says "no limit" with a number near 2^63 (page-rounded).
	if !lok || !uok || l >= 1<<62 {
		return 0, 0, hits, false
	}
	return l, max(u-stat("total_inactive_file")-stat("total_active_file"), 0), hits, true
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// baseMemory is what a check or repair takes besides its workspace and
// sort buffers (the Go heap and runtime, I/O buffers, caches).
const baseMemory = 32 << 20

// checkMemory refuses a memfd reservation of reserve bytes when it, the
// sort buffers (three sorts' of sortMem: two AGs', and a check's link
// counts beside them) and baseMemory are more than the process can
// take.
func checkMemory(reserve, sortMem int64) error {
	m := ReadMemory()
	need := reserve + 3*sortMem + baseMemory
	if m.Available < 0 || need <= m.Available {
		return nil
	}
	return fmt.Errorf("%w: staging the records in memory needs %s (a %s reservation, sort buffers and the program itself) and %s; use --scratch-dir DIR to stage them in an unnamed file on a filesystem instead: %w",
		ErrNoMemory, Bytes(need), Bytes(reserve), m, syscall.ENOMEM)
}

// StoppedBy adds to err the reason ctx was cancelled when Watch cancelled
// it for memory (context.Cause), so that the error says why; other
// errors are returned as they are.
func StoppedBy(ctx context.Context, err error) error {
	if cause := context.Cause(ctx); err != nil && errors.Is(cause, ErrMemoryPressure) {
		return fmt.Errorf("%w (stopped: %w)", err, cause)
	}
	return err
}

// WatchInterval and WatchFloor are how often a running command's Watch
// reads the memory the process can take, and how little of it left
// stops the command.
const (
	WatchInterval = 250 * time.Millisecond
	WatchFloor    = 16 << 20
)

// Watch polls the memory the process can take, every interval, until
// ctx is done or stop is called, and calls onShort once, with an error
// wrapping ErrMemoryPressure that says what it saw, when it runs short:
// the OOM killer runs for a cgroup of the process, or less than min is
// left. Cancelling the work with that cause before its commit point is
// the way to fail cleanly rather than be killed inside it.
func Watch(ctx context.Context, interval time.Duration, min int64, onShort func(error)) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	start := ReadMemory()
	wg.Go(func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			m := ReadMemory()
			var why string
			switch {
			case m.OOMs > start.OOMs:
				why = fmt.Sprintf("the OOM killer ran %d time(s) for a memory cgroup of this process (%s)", m.OOMs-start.OOMs, m)
			case m.Available >= 0 && m.Available < min:
				why = fmt.Sprintf("%s left (%s)", Bytes(m.Available), m)
			default:
				continue
			}
			onShort(fmt.Errorf("%w: %s", ErrMemoryPressure, why))
			return
		}
	})
	return func() { cancel(); wg.Wait() }
}
