package fusefs

import (
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// spoolMemLimit is how much of a rendered view stays in Go memory; the
// rest goes to an unnamed memfd, so a view of millions of records never
// becomes one Go string.
const spoolMemLimit = 1 << 20

// spool holds one rendered view: small ones in memory, large ones in a
// memfd that the kernel may swap.
type spool struct {
	mem  []byte
	file *os.File
	size int64
}

func (s *spool) Write(p []byte) (int, error) {
	if s.file == nil && len(s.mem)+len(p) <= spoolMemLimit {
		s.mem = append(s.mem, p...)
		s.size += int64(len(p))
		return len(p), nil
	}
	if s.file == nil {
		fd, err := unix.MemfdCreate("xfsbox-view", unix.MFD_CLOEXEC)
		if err != nil {
			return 0, fmt.Errorf("view spool: memfd_create: %w", err)
		}
		s.file = os.NewFile(uintptr(fd), "xfsbox-view")
		if _, err := s.file.Write(s.mem); err != nil {
			return 0, fmt.Errorf("view spool: %w", err)
		}
		s.mem = nil
	}
	n, err := s.file.Write(p)
	s.size += int64(n)
	return n, err
}

// ReadAt reads from the spool; reads past the end return io.EOF.
func (s *spool) ReadAt(p []byte, off int64) (int, error) {
	if off >= s.size {
		return 0, io.EOF
	}
	if s.file == nil {
		n := copy(p, s.mem[off:])
		return n, nil
	}
	n, err := s.file.ReadAt(p, off)
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}

func (s *spool) Close() error {
	if s.file != nil {
		return s.file.Close()
	}
	return nil
}
