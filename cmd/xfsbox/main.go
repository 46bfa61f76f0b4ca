// Command xfsbox looks inside XFS filesystem images and repairs their
// allocation-group metadata. See `xfsbox --help`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/xfsbox/xfsbox/repair/workspace"
)

type command struct {
	name    string
	summary string
	usage   string // after "xfsbox NAME "
	help    string // long help with examples; flagsMarker stands for the flags
	// flags defines the command's flags on a FlagSet (nil: none); run
	// defines the same ones.
	flags func(fl *flag.FlagSet)
	run   func(ctx context.Context, args []string, stdout io.Writer) error
	// readOnly commands write nothing: on SIGINT/SIGTERM they exit
	// within exitGrace even when what they run does not see its
	// context cancelled (a renderer deep in a hostile image).
	readOnly bool
}

// exitGrace is how long a read-only command may take to stop after a
// signal.
const exitGrace = 2 * time.Second

var commands = map[string]*command{}

func register(c *command) { commands[c.name] = c }

const mainHelp = `xfsbox: look inside XFS filesystem images and repair their AG metadata.

Usage:
  xfsbox [--log-level LEVEL] COMMAND [ARGS...]
  xfsbox COMMAND --help
  xfsbox --version

Commands:
%s
Global flags:
  --log-level LEVEL   panic, fatal, error, warn, info, debug or trace (default warn);
                      logs go to stderr
  --version           print the version and VCS revision, then exit

Examples:
  xfsbox check disk.img                        # 0 clean, 1 corrupt
  xfsbox repair --ag 3 disk.img bnobt          # rebuild AG 3's free-space btrees
  xfsbox mount disk.img /mnt/x                 # browse metadata as files
  echo bnobt > /mnt/x/ag/3/repair              # the same repair, from the mount
  cat /mnt/x/ag/1/agf                          # AGF of AG 1, as xfs_db prints it
  xfsbox dump disk.img ag/0/bnobt/records      # the same views without FUSE
  xfsbox check broken.md.zst                   # an xfs_metadump (plain, .gz, .zst, .xz)
  xfsbox repair --output fixed.img broken.md all   # restore a metadump and repair it

IMAGE is an image file, a block device, or an xfs_metadump file (v1 or
v2, plain or compressed with gzip, zstd or xz; recognised by its magic),
read in place: read-only, or in a sandbox (mount --sandbox); repair
--output NEW writes it restored and repaired.

Exit codes: 0 success; 1 corruption found; 2 bad usage; 3 image or repair
refused (not XFS, unsupported, truncated, mounted, dirty log, corrupt
sources); 4 I/O error; 5 no such view; 6 mount failed; 7 interrupted;
8 internal error.
`

func usageText() string {
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	var sb strings.Builder
	for _, n := range names {
		fmt.Fprintf(&sb, "  %-8s %s\n", n, commands[n].summary)
	}
	return fmt.Sprintf(mainHelp, sb.String())
}

// raiseOOMScore makes xfsbox the OOM killer's first choice
// (oom_score_adj 1000, or $XFSBOX_OOM_SCORE_ADJ): when memory runs out,
// xfsbox is what fails, not its neighbours. Its repairs are crash-safe,
// so being killed loses no more than the work in progress.
func raiseOOMScore() {
	adj := os.Getenv("XFSBOX_OOM_SCORE_ADJ")
	if adj == "" {
		adj = "1000"
	}
	_ = os.WriteFile("/proc/self/oom_score_adj", []byte(adj), 0)
}

func main() {
	raiseOOMScore()
	// Records live in the workspace, not the heap; a tighter GC keeps
	// the heap's garbage from dominating peak RSS.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(50)
	}
	if p := os.Getenv("XFSBOX_MEMPROFILE"); p != "" {
		peakHeapProfile(p)
	}
	// XFSBOX_CPUPROFILE=FILE writes a CPU profile of the command (for
	// developers: go tool pprof FILE).
	if p := os.Getenv("XFSBOX_CPUPROFILE"); p != "" {
		if f, err := os.Create(p); err == nil {
			if pprof.StartCPUProfile(f) == nil {
				code := run(os.Args[1:], os.Stdout, os.Stderr)
				pprof.StopCPUProfile()
				f.Close()
				os.Exit(code)
			}
		}
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) (code int) {
	defer func() {
		if r := recover(); r != nil {
			code = internalError(stderr, r)
		}
	}()
	logrus.SetOutput(stderr)
	logrus.SetLevel(logrus.WarnLevel)
	slog.SetDefault(slog.New(&logrusHandler{}))
	for len(args) > 0 && strings.HasPrefix(args[0], "-") {
		a := args[0]
		switch {
		case a == "-h" || a == "--help" || a == "-help":
			fmt.Fprint(stdout, usageText())
			return exitOK
		case a == "--version" || a == "-version":
			fmt.Fprint(stdout, versionText())
			return exitOK
		case a == "--log-level" || a == "-log-level":
			if len(args) < 2 {
				fmt.Fprintln(stderr, "xfsbox: --log-level needs a value")
				return exitUsage
			}
			if err := setLogLevel(args[1]); err != nil {
				fmt.Fprintln(stderr, "xfsbox:", err)
				return exitUsage
			}
			args = args[2:]
			continue
		case strings.HasPrefix(a, "--log-level=") || strings.HasPrefix(a, "-log-level="):
			if err := setLogLevel(a[strings.IndexByte(a, '=')+1:]); err != nil {
				fmt.Fprintln(stderr, "xfsbox:", err)
				return exitUsage
			}
			args = args[1:]
			continue
		}
		fmt.Fprintf(stderr, "xfsbox: unknown flag %s\n\n%s", a, usageText())
		return exitUsage
	}
	if len(args) == 0 {
		fmt.Fprint(stderr, usageText())
		return exitUsage
	}
	if args[0] == "help" {
		if len(args) > 1 {
			if c, ok := commands[args[1]]; ok {
				fmt.Fprint(stdout, commandHelp(c))
				return exitOK
			}
		}
		fmt.Fprint(stdout, usageText())
		return exitOK
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "xfsbox: unknown command %q\n\n%s", args[0], usageText())
		return exitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if c.readOnly {
		sigs := make(chan os.Signal, 1)
		signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
		done := make(chan struct{})
		defer signal.Stop(sigs)
		defer close(done)
		go func() {
			select {
			case <-sigs:
			case <-done:
				return
			}
			select {
			case <-done:
			case <-time.After(exitGrace):
				fmt.Fprintf(stderr, "xfsbox %s: interrupted (it wrote nothing)\n", c.name)
				os.Exit(exitCanceled)
			}
		}()
	}
	testPanicHook()
	// When memory runs short, stop before the commit point, with the
	// reason, rather than be killed inside it (or have a neighbour
	// killed): see raiseOOMScore too. Not a mount: cancelling its
	// context would unmount it; its control files' commands have their
	// own watch.
	ctx, cancelShort := context.WithCancelCause(ctx)
	defer cancelShort(nil)
	stopWatch := func() {}
	if c.name != "mount" {
		stopWatch = workspace.Watch(ctx, workspace.WatchInterval, workspace.WatchFloor, func(err error) {
			fmt.Fprintf(stderr, "xfsbox %s: %v: stopping\n", c.name, err)
			cancelShort(err)
		})
	}
	err := c.run(ctx, args[1:], stdout)
	stopWatch()
	err = workspace.StoppedBy(ctx, err)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, commandHelp(c))
		return exitOK
	}
	if err != nil {
		var ue *usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(stderr, "xfsbox %s: %v\n\nusage: xfsbox %s %s\n(see xfsbox %s --help)\n", c.name, err, c.name, c.usage, c.name)
		} else if code := exitCode(err); code != exitCorrupt {
			fmt.Fprintf(stderr, "xfsbox %s: %v\n", c.name, err)
		}
		return exitCode(err)
	}
	return exitOK
}

func commandHelp(c *command) string {
	help := strings.Replace(c.help, flagsMarker, flagsHelp(commandFlags(c)), 1)
	return fmt.Sprintf("usage: xfsbox %s %s\n\n%s", c.name, c.usage, help)
}

func setLogLevel(s string) error {
	l, err := logrus.ParseLevel(s)
	if err != nil {
		return fmt.Errorf("bad --log-level %q (want panic, fatal, error, warn, info, debug or trace)", s)
	}
	logrus.SetLevel(l)
	return nil
}

// newFlags makes a FlagSet that reports errors as usage errors and
// prints nothing itself.
func newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

// parseFlags parses flags anywhere among the arguments (GNU style) and
// returns the positional arguments.
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, &usageError{err.Error()}
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}
