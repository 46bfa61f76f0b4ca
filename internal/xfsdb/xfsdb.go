package xfsdb

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
)

// Binary is the xfs_db to run; empty means look it up (PATH, then /usr/sbin
// and /sbin, where xfsprogs installs it but a non-root PATH may not reach).
var Binary string

// Command returns the path of xfs_db.
func Command() (string, error) {
	if Binary != "" {
		return Binary, nil
	}
	return lookSbin("xfs_db")
}

func lookSbin(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/local/sbin"} {
		p := dir + "/" + name
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("xfsdb: %s not found (install xfsprogs)", name)
}

var stdbufPath = sync.OnceValue(func() string {
	p, err := exec.LookPath("stdbuf")
	if err != nil {
		return ""
	}
	return p
})

// command builds an xfs_db -r invocation. With stdbuf (coreutils) xfs_db's
// stdout is line buffered, so that stdout and stderr can share one pipe and
// a verifier's complaint lands next to the object it is about.
func command(image string, args ...string) (*exec.Cmd, bool, error) {
	db, err := Command()
	if err != nil {
		return nil, false, err
	}
	argv := append([]string{"-r"}, args...)
	argv = append(argv, image)
	if sb := stdbufPath(); sb != "" {
		return exec.Command(sb, append([]string{"-oL", db}, argv...)...), true, nil
	}
	return exec.Command(db, argv...), false, nil
}

// withPrint appends "print" unless the commands already end in a print.
func withPrint(cmds []string) []string {
	if n := len(cmds); n > 0 && (cmds[n-1] == "print" || strings.HasPrefix(cmds[n-1], "print ")) {
		return cmds
	}
	return append(cmds[:len(cmds):len(cmds)], "print")
}

// Print runs `xfs_db -r -c CMD1 -c CMD2 ... -c print IMAGE` and parses the
// output. Examples of cmds: {"sb 0"}, {"agf 1"}, {"agi 0", "addr root"},
// {"fsblock 1234", "type bnobt"}. If the last command is already a print
// ("print bnoroot"), no bare print is added. Messages xfs_db writes (to
// stdout or stderr) are in Object.Messages; it is an error if xfs_db fails
// or nothing at all could be parsed as a field.
func Print(image string, cmds ...string) (*Object, error) {
	var args []string
	for _, c := range withPrint(cmds) {
		args = append(args, "-c", c)
	}
	cmd, merged, err := command(image, args...)
	if err != nil {
		return nil, err
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	if merged {
		cmd.Stderr = &stdout
	} else {
		cmd.Stderr = &stderr
	}
	runErr := cmd.Run()
	obj := Parse(stdout.String())
	for l := range strings.SplitSeq(strings.TrimSpace(stderr.String()), "\n") {
		if l != "" {
			obj.Messages = append(obj.Messages, l)
		}
	}
	if runErr != nil {
		return obj, fmt.Errorf("xfsdb: %s %q: %v: %s", image, cmds, runErr, strings.Join(obj.Messages, "; "))
	}
	if obj.Empty() {
		return obj, fmt.Errorf("xfsdb: %s %q printed nothing: %s", image, cmds, strings.Join(obj.Messages, "; "))
	}
	return obj, nil
}

// boundary separates objects in PrintMany's output; xfs_db's echo prints
// its arguments and a space.
const boundary = "--xfsdb-object-boundary-7d1e--"

// PrintMany runs ONE xfs_db process for many objects: each batch is the
// commands of one Print ("print" appended the same way), fed on stdin,
// each preceded by `echo BOUNDARY` and `pop` (which clears the current
// object, so a batch whose address command fails prints nothing rather
// than the previous object again; a batch must leave the location stack as
// it found it: no unmatched push). Objects come back in batch order; an
// object that printed nothing is returned with its messages and no error
// (check Object.Empty). It is an error if xfs_db fails or the number of
// objects does not match. About 1-2 ms per object, against 10-40 ms for a
// separate xfs_db.
func PrintMany(image string, batches [][]string) ([]*Object, error) {
	objs := make([]*Object, 0, len(batches))
	err := EachObject(image, batches, func(i int, o *Object) error {
		objs = append(objs, o)
		return nil
	})
	return objs, err
}

// EachObject is PrintMany calling fn with each object as it is parsed,
// without holding all of xfs_db's output in memory.
func EachObject(image string, batches [][]string, fn func(i int, o *Object) error) error {
	if len(batches) == 0 {
		return nil
	}
	var script strings.Builder
	for _, b := range batches {
		// After a failed address command xfs_db keeps the previous object
		// current, and print would show that one again. pop on the bottom
		// of the location stack silently leaves no current object, so a
		// failed batch prints nothing but its messages.
		script.WriteString("echo " + boundary + "\npop\n")
		for _, c := range withPrint(b) {
			if strings.ContainsAny(c, "\n") {
				return fmt.Errorf("xfsdb: command %q contains a newline", c)
			}
			script.WriteString(c + "\n")
		}
	}
	script.WriteString("quit\n")

	cmd, merged, err := command(image)
	if err != nil {
		return err
	}
	cmd.Stdin = strings.NewReader(script.String())
	pr, err := cmd.StdoutPipe()
	if err != nil {
		return fmt.Errorf("xfsdb: %v", err)
	}
	var stderr bytes.Buffer
	if merged {
		cmd.Stderr = cmd.Stdout // the same pipe: one fd for both
	} else {
		cmd.Stderr = &stderr
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("xfsdb: %v", err)
	}

	sc := bufio.NewScanner(pr)
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	var (
		p       *parser
		n       int
		pre     []string // lines before the first boundary (startup)
		fnErr   error
		emitted int
	)
	emit := func() {
		if p == nil || fnErr != nil {
			return
		}
		if err := fn(emitted, p.obj); err != nil {
			fnErr = err
		}
		emitted++
	}
	for sc.Scan() {
		line := sc.Text()
		if strings.TrimSpace(line) == boundary {
			emit()
			p = &parser{obj: &Object{}}
			if n == 0 {
				// Whatever xfs_db said on opening the image goes with
				// the first object.
				p.obj.Messages, pre = pre, nil
			}
			n++
			continue
		}
		if p == nil {
			pre = append(pre, line)
			continue
		}
		p.line(line)
	}
	emit()
	scanErr := sc.Err()
	if scanErr != nil {
		// Drain so that xfs_db is not blocked on a full pipe.
		_, _ = io.Copy(io.Discard, pr)
	}
	werr := cmd.Wait()
	switch {
	case werr != nil:
		return fmt.Errorf("xfsdb: %s: %v: %s %s", image, werr, strings.Join(pre, "; "), strings.TrimSpace(stderr.String()))
	case scanErr != nil:
		return fmt.Errorf("xfsdb: reading output: %v", scanErr)
	case fnErr != nil:
		return fnErr
	case n != len(batches):
		return fmt.Errorf("xfsdb: %s: %d objects for %d batches: %s", image, n, len(batches), strings.Join(pre, "; "))
	}
	return nil
}

// Geometry is what addressing a block needs, read from the primary
// superblock of an image.
type Geometry struct {
	BlockSize uint32
	SectSize  uint16
	AGBlocks  uint32
	AGCount   uint32
	AGBlkLog  uint8
}

// ReadGeometry reads the geometry from the primary superblock.
func ReadGeometry(image string) (Geometry, error) {
	f, err := os.Open(image)
	if err != nil {
		return Geometry{}, err
	}
	defer f.Close()
	var sb [512]byte
	if _, err := io.ReadFull(f, sb[:]); err != nil {
		return Geometry{}, fmt.Errorf("xfsdb: reading superblock of %s: %w", image, err)
	}
	if string(sb[0:4]) != "XFSB" {
		return Geometry{}, fmt.Errorf("xfsdb: %s: no XFS superblock (magic %q)", image, sb[0:4])
	}
	be := binary.BigEndian
	g := Geometry{
		BlockSize: be.Uint32(sb[4:]),
		AGBlocks:  be.Uint32(sb[84:]),
		AGCount:   be.Uint32(sb[88:]),
		SectSize:  be.Uint16(sb[102:]),
		AGBlkLog:  sb[124],
	}
	if g.AGBlkLog == 0 || g.AGBlkLog > 31 {
		return g, fmt.Errorf("xfsdb: %s: implausible agblklog %d", image, g.AGBlkLog)
	}
	return g, nil
}

// FSBlock is the filesystem block number of (agno, agbno).
func (g Geometry) FSBlock(agno, agbno uint32) uint64 {
	return uint64(agno)<<g.AGBlkLog | uint64(agbno)
}

// BtreeTypes are the xfs_db type names of the AG btrees. "refcountbt" is
// accepted as another name for refcntbt.
var BtreeTypes = []string{"bnobt", "cntbt", "inobt", "finobt", "rmapbt", "refcntbt"}

// ErrType is returned for a btree type xfs_db does not know.
var ErrType = errors.New("xfsdb: unknown btree type")

func btreeType(typ string) (string, error) {
	if typ == "refcountbt" {
		return "refcntbt", nil
	}
	for _, t := range BtreeTypes {
		if t == typ {
			return t, nil
		}
	}
	return "", fmt.Errorf("%w %q (want one of %v)", ErrType, typ, BtreeTypes)
}

// BtreeBlockCmds are the commands that make block agbno of AG agno the
// current object as a btree block of type typ: `fsblock N` then `type TYP`.
// fsblock addresses a whole filesystem block and `type` keeps that length,
// so the whole block is read with 1 KiB blocks and with 4 KiB sectors
// alike. (`daddr D` + `type` works too.) Nothing depends on the AG headers,
// so corrupt ones do not get in the way.
func BtreeBlockCmds(g Geometry, agno, agbno uint32, typ string) ([]string, error) {
	t, err := btreeType(typ)
	if err != nil {
		return nil, err
	}
	return []string{fmt.Sprintf("fsblock %d", g.FSBlock(agno, agbno)), "type " + t}, nil
}

// PrintBtreeBlock prints block agbno of AG agno as a btree block of type
// typ (bnobt, cntbt, inobt, finobt, rmapbt, refcntbt).
func PrintBtreeBlock(image string, agno, agbno uint32, typ string) (*Object, error) {
	g, err := ReadGeometry(image)
	if err != nil {
		return nil, err
	}
	cmds, err := BtreeBlockCmds(g, agno, agbno, typ)
	if err != nil {
		return nil, err
	}
	return Print(image, cmds...)
}
