package dinode

import (
	"encoding/binary"
	"math/bits"
	"strconv"
	"strings"
	"time"

	"github.com/xfsbox/xfsbox/xfsformat"
)

// LocalFields decodes a local directory or attribute fork for Fields:
// prefix is the xfs_db name of what the fork holds ("u3.sfdir3",
// "u.sfdir2" or "a.sfattr") and fork its bytes. It returns the fields,
// named under prefix as xfs_db names them.
type LocalFields func(prefix string, fork []byte) []xfsformat.Field

// printer collects fields with xfs_db's number formats.
type printer struct{ out []xfsformat.Field }

func (p *printer) add(name, text string, js any) {
	p.out = append(p.out, xfsformat.Field{Name: name, Text: text, JSON: js})
}

// dec is "%u"/"%llu".
func (p *printer) dec(name string, v uint64) { p.add(name, strconv.FormatUint(v, 10), v) }

// hex is "%#x": 0 prints as "0".
func (p *printer) hex(name string, v uint64) { p.add(name, hexText(v), v) }

// decNull is "%llu" with FTARG_DONULL: all ones print as "null".
func (p *printer) decNull(name string, v, null uint64) {
	if v == null {
		p.add(name, "null", nil)
		return
	}
	p.dec(name, v)
}

func (p *printer) bit(name string, flags, mask uint64) {
	if flags&mask != 0 {
		p.add(name, "1", true)
	} else {
		p.add(name, "0", false)
	}
}

func (p *printer) crc(name string, stored uint32, ok bool) {
	verdict := "bad"
	if ok {
		verdict = "correct"
	}
	// xfs_db shows the four stored bytes read big-endian.
	shown := bits.ReverseBytes32(stored)
	p.add(name, hexText(uint64(shown))+" ("+verdict+")", map[string]any{"value": shown, "correct": ok})
}

func (p *printer) uuid(name string, u xfsformat.UUID) { p.add(name, u.String(), u.String()) }

// chars prints bytes as xfs_db's FLDT_CHARNS does.
func (p *printer) chars(name string, b []byte) { p.add(name, CharsText(b), string(b)) }

// fmtName is xfs_db's fp_dinode_fmt: the number and, when known, its name.
func (p *printer) format(name string, f uint8) {
	names := []string{"dev", "local", "extents", "btree", "uuid"}
	text := strconv.Itoa(int(f))
	if int(f) < len(names) {
		text += " (" + names[f] + ")"
	}
	p.add(name, text, f)
}

// time prints a timestamp as its .sec (ctime(3) form, UTC) and .nsec.
// xfs_db prints local time: it agrees when run with TZ=UTC.
func (p *printer) time(name string, ts Timestamp, bigtime bool) {
	sec, nsec := ts.Unix(bigtime)
	p.add(name+".sec", time.Unix(sec, 0).UTC().Format("Mon Jan _2 15:04:05 2006"), sec)
	p.add(name+".nsec", strconv.FormatUint(uint64(nsec), 10), nsec)
}

// array prints a record array: "NAME[F-L] = [cols] " and one "I:[...]"
// line per row, every row but the last with a trailing space. A single
// element is "NAME[F]".
func (p *printer) array(name string, first int, cols []string, rows [][]uint64, js any) {
	if len(rows) == 0 {
		return
	}
	var sb strings.Builder
	sb.WriteString("[" + strings.Join(cols, ",") + "] ")
	for i, r := range rows {
		sb.WriteString("\n" + strconv.Itoa(first+i) + ":[")
		for j, v := range r {
			if j > 0 {
				sb.WriteByte(',')
			}
			sb.WriteString(strconv.FormatUint(v, 10))
		}
		sb.WriteByte(']')
		if i+1 < len(rows) {
			sb.WriteByte(' ')
		}
	}
	p.add(name+indexRange(first, len(rows)), sb.String(), js)
}

// scalars prints an array of numbers on one line: "NAME[F-L] = F:v ...",
// or "NAME[F] = v" for one.
func (p *printer) scalars(name string, first int, vals []uint64) {
	if len(vals) == 0 {
		return
	}
	var sb strings.Builder
	for i, v := range vals {
		if len(vals) > 1 {
			if i > 0 {
				sb.WriteByte(' ')
			}
			sb.WriteString(strconv.Itoa(first+i) + ":")
		}
		sb.WriteString(strconv.FormatUint(v, 10))
	}
	p.add(name+indexRange(first, len(vals)), sb.String(), vals)
}

func indexRange(first, n int) string {
	if n == 1 {
		return "[" + strconv.Itoa(first) + "]"
	}
	return "[" + strconv.Itoa(first) + "-" + strconv.Itoa(first+n-1) + "]"
}

// hexText formats like C's "%#x": 0 is "0", others "0x..".
func hexText(v uint64) string {
	if v == 0 {
		return "0"
	}
	return "0x" + strconv.FormatUint(v, 16)
}

// CharsText quotes bytes as xfs_db prints a char array: xfsformat's
// one printer of names.
func CharsText(b []byte) string { return xfsformat.CharsText(b) }

// diflagNames are di_flags' bits in xfs_db's order.
var diflagNames = []struct {
	name string
	mask uint64
}{
	{"newrtbm", DiflagNewRTBM}, {"prealloc", DiflagPrealloc}, {"realtime", xfsformat.DiflagRealtime},
	{"immutable", DiflagImmutable}, {"append", DiflagAppend}, {"sync", DiflagSync},
	{"noatime", DiflagNoAtime}, {"nodump", DiflagNoDump}, {"rtinherit", DiflagRTInherit},
	{"projinherit", DiflagProjInherit}, {"nosymlinks", DiflagNoSymlinks}, {"extsz", DiflagExtSize},
	{"extszinherit", DiflagExtSzInherit}, {"nodefrag", DiflagNoDefrag}, {"filestream", DiflagFilestream},
}

// diflag2Names are di_flags2's bits in xfs_db's (6.1) order.
var diflag2Names = []struct {
	name string
	mask uint64
}{
	{"reflink", xfsformat.Diflag2Reflink}, {"cowextsz", Diflag2CowExtSize}, {"dax", Diflag2DAX},
	{"bigtime", xfsformat.Diflag2Bigtime}, {"nrext64", xfsformat.Diflag2Nrext64},
}

// Fields lists the inode as xfs_db's "inode N" then "print" does: the
// core, next_unlinked, the v3 fields (on a v5 filesystem), then the
// data fork ("u3", or "u" on v4) and the attr fork ("a"). Arrays (extent
// records, bmbt keys) are one Field whose Name carries the index range
// and whose Text is every line xfs_db prints for it after " = ". local
// decodes local directory and attribute forks; nil leaves them out.
func (c *Core) Fields(fs *FS, local LocalFields) []xfsformat.Field {
	out := c.CoreFields(fs)
	out = append(out, c.ForkFields(fs, false, local)...)
	return append(out, c.ForkFields(fs, true, local)...)
}

// CoreFields lists the core, next_unlinked and (v5) the v3 fields.
func (c *Core) CoreFields(fs *FS) []xfsformat.Field {
	p := &printer{}
	p.hex("core.magic", uint64(c.Magic))
	p.add("core.mode", octal(c.Mode), c.Mode)
	p.add("core.version", strconv.Itoa(int(int8(c.Version))), int8(c.Version))
	p.format("core.format", c.Format)
	if c.Version == 1 {
		p.dec("core.nlinkv1", uint64(c.OnLink))
	} else {
		p.dec("core.onlink", uint64(c.OnLink))
	}
	p.dec("core.uid", uint64(c.UID))
	p.dec("core.gid", uint64(c.GID))
	if c.Version >= 2 {
		p.dec("core.nlinkv2", uint64(c.Nlink))
		p.dec("core.projid_lo", uint64(c.ProjIDLo))
		p.dec("core.projid_hi", uint64(c.ProjIDHi))
	}
	large := c.HasLargeExtentCounts()
	if large {
		p.dec("core.nextents", c.NExtents)
	}
	if c.Version != 3 {
		p.dec("core.flushiter", uint64(c.FlushIter()))
	}
	bigtime := c.HasBigtime()
	p.time("core.atime", c.ATime, bigtime)
	p.time("core.mtime", c.MTime, bigtime)
	p.time("core.ctime", c.CTime, bigtime)
	p.add("core.size", strconv.FormatInt(int64(c.Size), 10), int64(c.Size))
	p.decNull("core.nblocks", c.NBlocks, xfsformat.NullFSBlock)
	p.dec("core.extsize", uint64(c.ExtSize))
	if !large {
		p.dec("core.nextents", c.NExtents)
	}
	p.dec("core.naextents", uint64(c.ANExtents))
	p.dec("core.forkoff", uint64(c.ForkOff))
	p.format("core.aformat", c.AFormat)
	p.hex("core.dmevmask", uint64(c.DMEvMask))
	p.dec("core.dmstate", uint64(c.DMState))
	for _, f := range diflagNames {
		p.bit("core."+f.name, uint64(c.Flags), f.mask)
	}
	p.dec("core.gen", uint64(c.Gen))
	p.decNull("next_unlinked", uint64(c.NextUnlinked), xfsformat.NullAGIno)
	if !fs.CRC {
		return p.out
	}
	p.crc("v3.crc", c.CRC, c.CRCOK())
	p.dec("v3.change_count", c.ChangeCount)
	p.hex("v3.lsn", c.LSN)
	p.hex("v3.flags2", c.Flags2)
	p.dec("v3.cowextsize", uint64(c.CowExtSize))
	p.time("v3.crtime", c.CrTime, bigtime)
	p.decNull("v3.inumber", c.Ino, xfsformat.NullFSIno)
	p.uuid("v3.uuid", c.UUID)
	for _, f := range diflag2Names {
		p.bit("v3."+f.name, c.Flags2, f.mask)
	}
	return p.out
}

// octal is C's "%#o".
func octal(v uint16) string {
	if v == 0 {
		return "0"
	}
	return "0" + strconv.FormatUint(uint64(v), 8)
}

// ForkFields lists one fork as xfs_db prints it: the data fork under
// "u3" ("u" on v4), the attr fork under "a" (nothing when the inode has
// none). A fork with nothing to show prints as "u3 = (empty)". Counts
// read from the core are bounded by the fork's bytes.
func (c *Core) ForkFields(fs *FS, attr bool, local LocalFields) []xfsformat.Field {
	p := &printer{}
	prefix := "a"
	if !attr {
		prefix = "u"
		if fs.CRC {
			prefix = "u3"
		}
	} else if c.ForkOff == 0 {
		return nil
	}
	fork := c.Fork(attr)
	delegated := false
	switch c.ForkFormat(attr) {
	case xfsformat.FmtDev:
		if !attr && len(fork) >= DevSize {
			p.hex(prefix+".dev", uint64(binary.BigEndian.Uint32(fork)))
		}
	case xfsformat.FmtLocal:
		name := ""
		switch {
		case attr:
			name = prefix + ".sfattr"
		case c.FileType() == xfsformat.ModeDir && fs.FType:
			name = prefix + ".sfdir3"
		case c.FileType() == xfsformat.ModeDir:
			name = prefix + ".sfdir2"
		case c.FileType() == xfsformat.ModeRegular && c.Size > 0:
			p.chars(prefix+".c", fork[:min(c.Size, uint64(len(fork)))])
		case c.FileType() == xfsformat.ModeSymlink && c.Size > 0:
			p.chars(prefix+".symlink", fork[:min(c.Size, uint64(len(fork)))])
		}
		if name != "" {
			delegated = true
			if local != nil {
				p.out = append(p.out, local(name, fork)...)
			}
		}
	case xfsformat.FmtExtents:
		n := min(c.ForkExtents(attr), uint64(len(fork)/xfsformat.BmbtRecLen))
		rows := make([][]uint64, n)
		js := make([]map[string]any, n)
		for i := range rows {
			r := xfsformat.DecodeBmbtRec(fork[i*xfsformat.BmbtRecLen:])
			rows[i] = []uint64{r.StartOff, r.StartBlock, uint64(r.BlockCount), b2u(r.Unwritten)}
			js[i] = map[string]any{"startoff": r.StartOff, "startblock": r.StartBlock, "blockcount": r.BlockCount, "extentflag": r.Unwritten}
		}
		p.array(prefix+".bmx", 0, []string{"startoff", "startblock", "blockcount", "extentflag"}, rows, js)
	case xfsformat.FmtBtree:
		if root, err := DecodeRoot(fork); err == nil {
			p.dec(prefix+".bmbt.level", uint64(root.Level))
			p.dec(prefix+".bmbt.numrecs", uint64(root.NumRecs))
			rows := make([][]uint64, len(root.Keys))
			for i, k := range root.Keys {
				rows[i] = []uint64{k}
			}
			p.array(prefix+".bmbt.keys", 1, []string{"startoff"}, rows, root.Keys)
			p.scalars(prefix+".bmbt.ptrs", 1, root.Ptrs)
		}
	case FmtUUID:
		if !attr && len(fork) >= 16 {
			p.uuid(prefix+".muuid", xfsformat.UUID(fork[:16]))
		}
	}
	if len(p.out) == 0 && !delegated {
		p.add(prefix, "(empty)", nil)
	}
	return p.out
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}
