package main

import (
	"os"
	"runtime"
	"runtime/pprof"
	"time"
)

// peakHeapProfile writes a heap profile to path each time the live heap
// reaches a new peak (checked every 50 ms), so that the file ends with
// the allocations of the command's largest moment: for developers
// (XFSBOX_MEMPROFILE=FILE; go tool pprof -sample_index=inuse_space).
func peakHeapProfile(path string) {
	runtime.MemProfileRate = 64 << 10
	go func() {
		var peak uint64
		var ms runtime.MemStats
		for range time.Tick(50 * time.Millisecond) {
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc < peak+peak/10+(1<<20) {
				continue
			}
			peak = ms.HeapAlloc
			if f, err := os.Create(path); err == nil {
				_ = pprof.Lookup("heap").WriteTo(f, 0)
				f.Close()
			}
		}
	}()
}
