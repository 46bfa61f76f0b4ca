//go:build linux

package workspace

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// fakeMemory lays out a /proc and a /sys/fs/cgroup under t.TempDir
// (files name -> content) and points ReadMemory at them.
func fakeMemory(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, content := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	old := memRoot
	memRoot.proc, memRoot.cgroup = filepath.Join(root, "proc"), filepath.Join(root, "cgroup")
	t.Cleanup(func() { memRoot = old })
	return root
}

const meminfo = "MemTotal:       24000000 kB\nMemFree:        1000 kB\nMemAvailable:   20000000 kB\n"

// TestReadMemory: the tightest limit wins, v2 and v1, from the
// process's cgroup up; file pages (reclaimable page cache) do not count
// as used; OOM events are the cgroup's own (.local), not its children's; "max" and v1's huge number are no limit.
func TestReadMemory(t *testing.T) {
	t.Run("v2", func(t *testing.T) {
		fakeMemory(t, map[string]string{
			"proc/meminfo":              meminfo,
			"proc/self/cgroup":          "0::/a/b\n",
			"cgroup/cgroup.controllers": "memory\n",
			"cgroup/a/b/memory.max":     "max\n",
			"cgroup/a/b/memory.current": "1000\n",
			"cgroup/a/memory.max":       "104857600\n", // 100 MiB
			"cgroup/a/memory.current":   "73400320\n",  // 70 MiB
			"cgroup/a/memory.stat":      "anon 1\nactive_file 5242880\ninactive_file 5242880\n",
			// memory.events counts a child cgroup's OOMs too; only
			// .local's are this cgroup's limit.
			"cgroup/a/memory.events":       "low 0\nhigh 0\nmax 7\noom 9\noom_kill 8\n",
			"cgroup/a/memory.events.local": "low 0\nhigh 0\nmax 7\noom 2\noom_kill 1\n",
			"cgroup/memory.max":            "max\n", // the root has none
		})
		m := ReadMemory()
		if m.Available != 40<<20 || m.Limit != 100<<20 || m.Used != 60<<20 || !strings.HasSuffix(m.Cgroup, "cgroup/a") || m.OOMs != 2 || m.MachineAvailable != 20000000<<10 {
			t.Fatalf("%+v", m)
		}
	})
	t.Run("v1", func(t *testing.T) {
		fakeMemory(t, map[string]string{
			"proc/meminfo":     meminfo,
			"proc/self/cgroup": "4:memory:/svc\n1:cpu:/\n0::/\n",
			"cgroup/memory/svc/memory.limit_in_bytes": "52428800\n", // 50 MiB
			"cgroup/memory/svc/memory.usage_in_bytes": "41943040\n", // 40 MiB
			"cgroup/memory/svc/memory.stat":           "cache 1\ntotal_active_file 10485760\ntotal_inactive_file 10485760\n",
			"cgroup/memory/svc/memory.oom_control":    "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n",
			"cgroup/memory/memory.limit_in_bytes":     "9223372036854771712\n",
			"cgroup/memory/memory.usage_in_bytes":     "1\n",
		})
		m := ReadMemory()
		if m.Available != 30<<20 || m.Used != 20<<20 || m.OOMs != 3 {
			t.Fatalf("%+v", m)
		}
	})
	t.Run("no cgroup limit", func(t *testing.T) {
		fakeMemory(t, map[string]string{"proc/meminfo": meminfo, "proc/self/cgroup": "0::/\n"})
		if m := ReadMemory(); m.Available != 20000000<<10 || m.Cgroup != "" {
			t.Fatalf("%+v", m)
		}
	})
	t.Run("nothing readable", func(t *testing.T) {
		fakeMemory(t, map[string]string{})
		if m := ReadMemory(); m.Available != -1 {
			t.Fatalf("%+v", m)
		}
	})
}

// TestNewRefusesMemory: a memfd workspace whose reservation, sort
// buffers and the program do not fit what the cgroup leaves is refused
// with ErrNoMemory and ENOMEM, naming --scratch-dir, before anything is
// made; one in a scratch directory is not; one that fits is made.
func TestNewRefusesMemory(t *testing.T) {
	fakeMemory(t, map[string]string{
		"proc/meminfo":     meminfo,
		"proc/self/cgroup": "4:memory:/svc\n",
		"cgroup/memory/svc/memory.limit_in_bytes": "104857600\n", // 100 MiB
		"cgroup/memory/svc/memory.usage_in_bytes": "20971520\n",  // 20 MiB
	})
	ctx := context.Background()
	// 80 MiB left: 1.5 x 20 MiB + 3 x 8 MiB + 32 MiB = 86 MiB.
	_, err := New(ctx, Options{Estimate: 20 << 20, SortMemory: 8 << 20})
	if !errors.Is(err, ErrNoMemory) || !errors.Is(err, syscall.ENOMEM) || !strings.Contains(err.Error(), "--scratch-dir") {
		t.Fatalf("New over memory: %v", err)
	}
	ws, err := New(ctx, Options{Estimate: 20 << 20, SortMemory: 8 << 20, ScratchDir: t.TempDir()})
	if err != nil {
		t.Fatalf("New in a scratch directory: %v", err)
	}
	ws.Close()
	// 1.5 x 4 MiB + 3 x 8 MiB + 32 MiB = 62 MiB.
	ws, err = New(ctx, Options{Estimate: 4 << 20, SortMemory: 8 << 20})
	if err != nil {
		t.Fatalf("New that fits: %v", err)
	}
	ws.Close()
}

// TestWatch: Watch calls back once when the OOM killer runs for a
// cgroup of the process or when what is left drops under its floor,
// and not while memory is steady.
func TestWatch(t *testing.T) {
	root := fakeMemory(t, map[string]string{
		"proc/meminfo":     meminfo,
		"proc/self/cgroup": "4:memory:/svc\n",
		"cgroup/memory/svc/memory.limit_in_bytes": "104857600\n",
		"cgroup/memory/svc/memory.usage_in_bytes": "20971520\n",
		"cgroup/memory/svc/memory.oom_control":    "oom_kill 0\n",
	})
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(root, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name   string
		change func()
		want   string
	}{
		{"steady", func() {}, ""},
		{"oom", func() { write("cgroup/memory/svc/memory.oom_control", "oom_kill 1\n") }, "OOM killer ran 1 time"},
		{"low", func() { write("cgroup/memory/svc/memory.usage_in_bytes", "99614720\n") }, "5.0 MiB left"},
		{"page cache", func() {
			write("cgroup/memory/svc/memory.stat", "total_active_file 62914560\ntotal_inactive_file 20971520\n")
			write("cgroup/memory/svc/memory.usage_in_bytes", "99614720\n")
		}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			write("cgroup/memory/svc/memory.usage_in_bytes", "20971520\n")
			write("cgroup/memory/svc/memory.oom_control", "oom_kill 0\n")
			write("cgroup/memory/svc/memory.stat", "")
			got := make(chan error, 2)
			stop := Watch(context.Background(), 5*time.Millisecond, 16<<20, func(err error) { got <- err })
			defer stop()
			time.Sleep(30 * time.Millisecond)
			tc.change()
			select {
			case err := <-got:
				if tc.want == "" || !errors.Is(err, ErrMemoryPressure) || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("Watch said %v, want %q", err, tc.want)
				}
			case <-time.After(300 * time.Millisecond):
				if tc.want != "" {
					t.Fatalf("Watch said nothing, want %q", tc.want)
				}
			}
			stop()
			if len(got) > 0 {
				t.Fatalf("Watch called back twice: %v", <-got)
			}
		})
	}
}

// TestStoppedBy: an error of a context Watch cancelled says why; one of
// a context cancelled otherwise, or no error, is left as it is.
func TestStoppedBy(t *testing.T) {
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(fmt.Errorf("%w: 5 MiB left", ErrMemoryPressure))
	err := StoppedBy(ctx, context.Canceled)
	if !errors.Is(err, context.Canceled) || !errors.Is(err, ErrMemoryPressure) || !strings.Contains(err.Error(), "5 MiB left") {
		t.Fatalf("StoppedBy after a memory cancel: %v", err)
	}
	if StoppedBy(ctx, nil) != nil {
		t.Fatal("StoppedBy made an error of none")
	}
	other, cancel2 := context.WithCancel(context.Background())
	cancel2()
	if err := StoppedBy(other, context.Canceled); err != context.Canceled {
		t.Fatalf("StoppedBy after a plain cancel: %v", err)
	}
}
