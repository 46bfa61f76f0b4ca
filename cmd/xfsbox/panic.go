package main

import (
	"fmt"
	"io"
	"os"
	"runtime/debug"
)

// internalError reports a panic recovered in run: a bug, exit code
// exitInternal (Go's own exit status for a panic, 2, is exitUsage). A
// panic in a goroutine other than run's cannot be recovered here and
// still ends the process with status 2.
func internalError(stderr io.Writer, r any) int {
	fmt.Fprintf(stderr, "xfsbox: internal error (a bug in xfsbox): panic: %v\n\n%s", r, debug.Stack())
	return exitInternal
}

// testPanicEnv names the test hook: set to 1 (only tests do), a command
// panics before it starts, so that a test can see the panic handling.
const testPanicEnv = "XFSBOX_TEST_PANIC"

func testPanicHook() {
	if os.Getenv(testPanicEnv) == "1" {
		panic(testPanicEnv + "=1: the test hook's panic")
	}
}
