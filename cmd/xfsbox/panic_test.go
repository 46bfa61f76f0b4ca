package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestPanicIsInternalError: a panic in a command exits with
// exitInternal and says so, with the panic value and the stack, both
// in-process (run's recover) and from the binary.
func TestPanicIsInternalError(t *testing.T) {
	check := func(how string, code int, stderr string) {
		t.Helper()
		if code != exitInternal {
			t.Errorf("%s: exit %d, want %d (exitInternal)", how, code, exitInternal)
		}
		for _, want := range []string{"internal error", testPanicEnv + "=1: the test hook's panic", "goroutine ", "testPanicHook"} {
			if !strings.Contains(stderr, want) {
				t.Errorf("%s: stderr lacks %q:\n%s", how, want, stderr)
			}
		}
	}
	t.Setenv(testPanicEnv, "1")
	_, errOut, code := runCLI("check", "no-such.img")
	check("in-process", code, errOut)

	cmd := exec.Command(buildBinary(t), "check", "no-such.img")
	cmd.Env = append(os.Environ(), testPanicEnv+"=1")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	check("binary", exitOf(cmd.Run()), stderr.String())
}
