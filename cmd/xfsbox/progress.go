package main

import (
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"
)

// phaseProgress reports the phases of a long command (check, repair):
// on a terminal, the phase on one line of stderr, which done clears;
// at debug level, when each phase starts and the CPU time used by then
// (more than the time gone by: both cores were busy), so that
// --log-level debug shows where the time goes. report is safe for
// concurrent use.
func phaseProgress(cmd, format string) (report func(phase string, done, total int64), done func()) {
	tty := isTerminal(os.Stderr)
	start, last := time.Now(), ""
	var mu sync.Mutex
	report = func(phase string, _, _ int64) {
		mu.Lock()
		defer mu.Unlock()
		if phase != last {
			logrus.Debugf("%s: phase %s at %.3fs (cpu %.3fs)", cmd, phase, time.Since(start).Seconds(), cpuSeconds())
			last = phase
		}
		if tty {
			fmt.Fprintf(os.Stderr, "\r"+format, phase)
		}
	}
	done = func() {
		logrus.Debugf("%s: done at %.3fs (cpu %.3fs)", cmd, time.Since(start).Seconds(), cpuSeconds())
		if tty {
			fmt.Fprint(os.Stderr, "\r\033[K")
		}
	}
	return report, done
}

// cpuSeconds is the CPU time the process has used, user and system.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}
