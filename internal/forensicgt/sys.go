package forensicgt

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/xfsbox/xfsbox/internal/testimg"
)

// run runs a tool (found by testimg.LookTool) under ctx with extra
// environment variables and returns its standard output; a failure's
// error carries what it wrote to standard error.
func run(ctx context.Context, env []string, name string, args ...string) (string, error) {
	if p, err := testimg.LookTool(name); err == nil {
		name = p
	}
	cmd := exec.CommandContext(ctx, name, args...)
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%s %s: %v: %s%s", filepath.Base(name), strings.Join(args, " "), err, strings.TrimSpace(stderr.String()), strings.TrimSpace(stdout.String()))
	}
	return stdout.String(), nil
}

// fstestsEnv makes mkfs.xfs 6.x believe it runs under fstests, the only
// way it accepts a log under 64 MiB.
var fstestsEnv = []string{"TEST_DIR=/tmp", "TEST_DEV=/dev/null", "QA_CHECK_FS=xfs"}

var minLogRE = regexp.MustCompile(`minimum size is (\d+) blocks`)

// mkfs makes the filesystem of spec in img (an existing sparse file) and
// returns the arguments it used.
func mkfs(ctx context.Context, img string, spec Spec) ([]string, error) {
	rmap := "0"
	if spec.Rmapbt {
		rmap = "1"
	}
	args := []string{"-q", "-f", "-b", "size=" + strconv.Itoa(spec.BlockSize), "-m", "crc=1,rmapbt=" + rmap, "-i", "size=512"}
	var env []string
	logBlocks := spec.LogBlocks
	if logBlocks == -1 {
		// Ask mkfs for its minimum: a dry run with a log too small
		// names it.
		out, err := run(ctx, fstestsEnv, "mkfs.xfs", append(args, "-N", "-l", "size=2m", img)...)
		m := minLogRE.FindStringSubmatch(out + errText(err))
		switch {
		case m != nil:
			logBlocks, _ = strconv.Atoi(m[1])
		case err == nil:
			logBlocks = (2 << 20) / spec.BlockSize
		default:
			return nil, fmt.Errorf("finding the smallest log: %v", err)
		}
	}
	if logBlocks > 0 {
		args = append(args, "-l", fmt.Sprintf("size=%db", logBlocks))
		if int64(logBlocks)*int64(spec.BlockSize) < 64<<20 {
			env = fstestsEnv
		}
	}
	args = append(args, img)
	if _, err := run(ctx, env, "mkfs.xfs", args...); err != nil {
		return nil, err
	}
	return args, nil
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// mount is a loop mount of an image, made by Generate and always undone.
type mount struct {
	dir string
	dev string // "loop3": the name under /sys/fs/xfs
	on  bool
}

// mountImage loop-mounts img on a new directory under parent.
func mountImage(ctx context.Context, img, parent string) (*mount, error) {
	dir, err := os.MkdirTemp(parent, "mnt-")
	if err != nil {
		return nil, err
	}
	if _, err := run(ctx, nil, "mount", "-o", "loop,nouuid", img, dir); err != nil {
		os.Remove(dir)
		return nil, err
	}
	m := &mount{dir: dir, on: true}
	if m.dev, err = mountSource(dir); err != nil {
		m.unmount()
		return nil, err
	}
	return m, nil
}

// unmount unmounts (once), bounded in time whatever the caller's context
// says: a mount must not outlive Generate. A busy mount is retried, then
// detached lazily.
func (m *mount) unmount() error {
	if m == nil || !m.on {
		return nil
	}
	var err error
	for try := 0; try < 5; try++ {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		_, err = run(ctx, nil, "umount", m.dir)
		cancel()
		if err == nil {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		run(ctx, nil, "umount", "-l", m.dir)
		cancel()
		m.on = false
		return fmt.Errorf("unmounting %s (detached lazily): %w", m.dir, err)
	}
	m.on = false
	os.Remove(m.dir)
	return nil
}

// mountSource is the device name (without /dev/) mounted on dir, from
// /proc/self/mountinfo.
func mountSource(dir string) (string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	dev := ""
	for sc.Scan() {
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		fields, tail := strings.Fields(pre), strings.Fields(post)
		if !ok || len(fields) < 5 || len(tail) < 2 || fields[4] != dir {
			continue
		}
		dev = strings.TrimPrefix(tail[1], "/dev/")
	}
	if dev == "" {
		return "", fmt.Errorf("%s is not in /proc/self/mountinfo", dir)
	}
	return dev, sc.Err()
}

// LSN is a log sequence number: a cycle and a block (512-byte basic
// block) of the log.
type LSN struct {
	Cycle uint32 `json:"cycle"`
	Block uint32 `json:"block"`
}

func (l LSN) String() string { return fmt.Sprintf("%d:%d", l.Cycle, l.Block) }

// headLSN reads the log head of the mounted filesystem from sysfs.
func (m *mount) headLSN() (LSN, error) {
	b, err := os.ReadFile(filepath.Join("/sys/fs/xfs", m.dev, "log", "log_head_lsn"))
	if err != nil {
		return LSN{}, err
	}
	c, blk, ok := strings.Cut(strings.TrimSpace(string(b)), ":")
	cy, err1 := strconv.ParseUint(c, 10, 32)
	bl, err2 := strconv.ParseUint(blk, 10, 32)
	if !ok || err1 != nil || err2 != nil {
		return LSN{}, fmt.Errorf("log_head_lsn %q", b)
	}
	return LSN{uint32(cy), uint32(bl)}, nil
}

// settle forces everything of the mounted filesystem to disk and
// finishes the work the kernel defers: a freeze runs the background
// inactivation of unlinked inodes (inodegc), which frees them and logs
// it after unlink has returned, and syncfs alone does not wait for it.
func (m *mount) settle(ctx context.Context) error {
	if err := m.syncfs(); err != nil {
		return err
	}
	if _, err := run(ctx, nil, "xfs_io", "-x", "-c", "freeze", "-c", "thaw", m.dir); err != nil {
		// Never leave it frozen.
		run(context.Background(), nil, "xfs_io", "-x", "-c", "thaw", m.dir)
		return err
	}
	return m.syncfs()
}

// syncfs forces everything of the mounted filesystem to disk (and the
// log).
func (m *mount) syncfs() error {
	f, err := os.Open(m.dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return errors.Join(syncfsFd(f), f.Sync())
}
