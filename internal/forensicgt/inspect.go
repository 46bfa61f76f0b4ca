package forensicgt

import (
	"bufio"
	"cmp"
	"encoding/binary"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/xfsbox/xfsbox/internal/logprint"
	"github.com/xfsbox/xfsbox/internal/xfsdb"
)

// What xfs_db and xfs_logprint say of the unmounted image: the judges of
// the truth's inode numbers, generations, extent maps and directory
// formats, and of what the log still holds.

// readGeometry reads the superblock's geometry with xfs_db.
func readGeometry(img string) (Geometry, error) {
	o, err := xfsdb.Print(img, "sb 0", "print blocksize dirblklog agblocks agcount agblklog inodesize logblocks")
	if err != nil {
		return Geometry{}, err
	}
	var g Geometry
	var dirblklog uint64
	for _, f := range []struct {
		name string
		dst  *uint32
	}{{"blocksize", &g.BlockSize}, {"agblocks", &g.AGBlocks}, {"agcount", &g.AGCount}, {"agblklog", &g.AGBlkLog}, {"inodesize", &g.InodeSize}, {"logblocks", &g.LogBlocks}} {
		v, err := o.Uint(f.name)
		if err != nil {
			return g, err
		}
		*f.dst = uint32(v)
	}
	if dirblklog, err = o.Uint("dirblklog"); err != nil {
		return g, err
	}
	if g.BlockSize < 512 || g.BlockSize > 65536 || g.AGBlkLog == 0 || g.AGBlkLog > 31 || dirblklog > 8 {
		return g, fmt.Errorf("implausible geometry %+v dirblklog %d", g, dirblklog)
	}
	g.DirBlockSize = g.BlockSize << dirblklog
	return g, nil
}

// inodeInfo is what xfs_db prints of an inode.
type inodeInfo struct {
	mode     uint32
	gen      uint32
	format   string // local, extents, btree
	size     int64
	nextents int
	extents  []Extent
}

// inspectInodes prints the core and the data fork map of each inode, in
// one xfs_db process.
func inspectInodes(img string, inos []uint64) (map[uint64]*inodeInfo, error) {
	batches := make([][]string, len(inos))
	for i, ino := range inos {
		batches[i] = []string{"inode " + strconv.FormatUint(ino, 10), "print core.mode core.gen core.format core.size core.nextents", "bmap"}
	}
	outs, err := xfsdb.RunMany(img, batches)
	if err != nil {
		return nil, err
	}
	infos := make(map[uint64]*inodeInfo, len(inos))
	for i, out := range outs {
		var fields, bmap []string
		for line := range strings.SplitSeq(out, "\n") {
			if strings.HasPrefix(line, "data offset ") {
				bmap = append(bmap, line)
			} else {
				fields = append(fields, line)
			}
		}
		o := xfsdb.Parse(strings.Join(fields, "\n"))
		info := &inodeInfo{}
		var vals [5]uint64
		for j, name := range []string{"core.mode", "core.gen", "core.format", "core.size", "core.nextents"} {
			if vals[j], err = o.Uint(name); err != nil {
				return nil, fmt.Errorf("inode %d: %v (%s)", inos[i], err, strings.Join(o.Messages, "; "))
			}
		}
		info.mode, info.gen, info.size, info.nextents = uint32(vals[0]), uint32(vals[1]), int64(vals[3]), int(vals[4])
		switch vals[2] {
		case 1:
			info.format = "local"
		case 2:
			info.format = "extents"
		case 3:
			info.format = "btree"
		default:
			info.format = o.Value("core.format")
		}
		exts, err := xfsdb.ParseBmap(strings.Join(bmap, "\n"))
		if err != nil {
			return nil, fmt.Errorf("inode %d: %v", inos[i], err)
		}
		for _, e := range exts {
			info.extents = append(info.extents, Extent{FileOffset: e.Offset, StartBlock: e.StartBlock, Blocks: e.Count, Unwritten: e.Flag == 1})
		}
		infos[inos[i]] = info
	}
	return infos, nil
}

// Directory block magics (xfs_da_format.h), v5.
const (
	magicBlock = 0x58444233 // XDB3
	magicData  = 0x58444433 // XDD3
	magicLeaf1 = 0x3df1
	magicLeafN = 0x3dff
	magicNode  = 0x3ebe
	magicFree  = 0x58444633 // XDF3
)

// dirFormat classifies a directory from xfs_db: its fork format, its
// block map, and the magic xfs_db prints for the block at offset 0, at
// the leaf offset (32 GiB) and at the free offset (64 GiB).
func dirFormat(img string, g Geometry, ino uint64, info *inodeInfo) (DirFormat, string, error) {
	if info.format == "local" {
		return Shortform, "core.format = 1 (local)", nil
	}
	leafOff, freeOff := uint64(1<<35)/uint64(g.BlockSize), uint64(1<<36)/uint64(g.BlockSize)
	hasLeaf, hasFree := false, false
	for _, e := range info.extents {
		end := e.FileOffset + e.Blocks
		if e.FileOffset < freeOff && end > leafOff {
			hasLeaf = true
		}
		if end > freeOff {
			hasFree = true
		}
	}
	offs := []uint64{0}
	if hasLeaf {
		offs = append(offs, leafOff)
	}
	if hasFree {
		offs = append(offs, freeOff)
	}
	batches := make([][]string, len(offs))
	for i, off := range offs {
		batches[i] = []string{"inode " + strconv.FormatUint(ino, 10), "dblock " + strconv.FormatUint(off, 10), "print"}
	}
	outs, err := xfsdb.RunMany(img, batches)
	if err != nil {
		return "", "", err
	}
	magics := make([]uint64, len(offs))
	ev := []string{"core.format = " + info.format}
	for i, out := range outs {
		o := xfsdb.Parse(out)
		for _, f := range o.Fields {
			if strings.HasSuffix(f.Name, ".magic") {
				magics[i], _ = xfsdb.ParseUint(f.Value)
				ev = append(ev, fmt.Sprintf("dblock %d: %s = %s", offs[i], f.Name, f.Value))
				break
			}
		}
	}
	evidence := strings.Join(ev, "; ")
	switch {
	case !hasLeaf && !hasFree && magics[0] == magicBlock:
		return Block, evidence, nil
	case hasLeaf && !hasFree && magics[0] == magicData && magics[1] == magicLeaf1:
		return Leaf, evidence, nil
	case hasLeaf && hasFree && magics[0] == magicData && (magics[1] == magicNode || magics[1] == magicLeafN) && magics[2] == magicFree:
		return Node, evidence, nil
	}
	return "", evidence, fmt.Errorf("directory inode %d: no format fits: %s", ino, evidence)
}

// readBlocks reads n filesystem blocks at fsb from the image.
func readBlocks(f *os.File, g Geometry, fsb, n uint64) ([]byte, error) {
	if n > 1<<20 {
		return nil, fmt.Errorf("extent of %d blocks", n)
	}
	b := make([]byte, n*uint64(g.BlockSize))
	_, err := f.ReadAt(b, g.ByteOffset(fsb))
	return b, err
}

// logInode is what the log holds of one inode.
type logInode struct {
	items int
	freed bool
	sizes map[int64]bool // sizes of the items with a nonzero mode
	// mapped: an item with a nonzero mode logs the data fork's extent
	// list or bmbt root (ilf_fields XFS_ILOG_DEXT 0x4, DBROOT 0x8).
	mapped bool
}

var (
	inodeItemRE = regexp.MustCompile(`^\s*INODE: #regs:\s*\d+\s+ino:0x([0-9a-f]+)\s+flags:0x([0-9a-f]+)`)
	inodeModeRE = regexp.MustCompile(`^\s*magic:IN\s+mode:0x([0-9a-f]+)`)
	inodeSizeRE = regexp.MustCompile(`^\s*size:0x([0-9a-f]+)\s`)
)

// logLocRE is xfs_logprint's "daddr: D length: L" of the log.
var logLocRE = regexp.MustCompile(`daddr: (\d+) length: (\d+)`)

// recordHeaders lists the log's record headers (a basic block starting
// with XLOG_HEADER_MAGIC_NUM; every other block of a record starts with
// its cycle number), by their LSN, oldest first.
func recordHeaders(img string, daddr, length int64) ([]LSN, []uint32, error) {
	if length <= 0 || length > 1<<24 {
		return nil, nil, fmt.Errorf("log of %d basic blocks", length)
	}
	f, err := os.Open(img)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	buf := make([]byte, length*512)
	if _, err := f.ReadAt(buf, daddr*512); err != nil {
		return nil, nil, fmt.Errorf("reading the log: %w", err)
	}
	type hdr struct {
		lsn LSN
		blk uint32
	}
	var hs []hdr
	for b := int64(0); b < length; b++ {
		// xlog_rec_header: h_magicno, h_cycle, h_version, h_len at 0,
		// 4, 8, 12; h_lsn at 16; h_num_logops at 40. A mount stamps
		// the blocks ahead of the head with empty records of an older
		// cycle (no length, no operations): not records to read.
		bb := buf[b*512 : (b+1)*512]
		if binary.BigEndian.Uint32(bb) != 0xFEEDBABE {
			continue
		}
		lsn := LSN{binary.BigEndian.Uint32(bb[16:]), binary.BigEndian.Uint32(bb[20:])}
		if lsn.Cycle == 0 || binary.BigEndian.Uint32(bb[12:]) == 0 || binary.BigEndian.Uint32(bb[40:]) == 0 {
			continue
		}
		hs = append(hs, hdr{lsn, uint32(b)})
	}
	slices.SortFunc(hs, func(a, b hdr) int {
		return cmp.Or(cmp.Compare(a.lsn.Cycle, b.lsn.Cycle), cmp.Compare(a.lsn.Block, b.lsn.Block))
	})
	lsns, blks := make([]LSN, len(hs)), make([]uint32, len(hs))
	for i, h := range hs {
		lsns[i], blks[i] = h.lsn, h.blk
	}
	return lsns, blks, nil
}

// readLog reads the whole physical log, oldest record first: xfs_logprint
// -t -i -s S, S being the oldest record header on disk (-s makes the
// transactional view read from S round to the head, the records behind
// the tail included, which a clean unmount leaves in place; a start that
// is not a header fails, so the oldest few are tried in turn).
func readLog(img string, lt *LogTruth) (map[uint64]*logInode, error) {
	out, err := logprint.Run(time.Minute, img, "-t")
	st, serr := logprint.ParseState(out)
	m := logLocRE.FindStringSubmatch(out)
	if serr != nil || m == nil {
		return nil, fmt.Errorf("xfs_logprint -t: no state or log location (%v)", err)
	}
	lt.Tail, lt.Head, lt.Clean = st.Tail, st.Head, st.Clean
	daddr, _ := strconv.ParseInt(m[1], 10, 64)
	length, _ := strconv.ParseInt(m[2], 10, 64)
	lsns, blks, err := recordHeaders(img, daddr, length)
	if err != nil {
		return nil, err
	}
	if len(lsns) == 0 {
		return nil, fmt.Errorf("no record header in the log")
	}
	lt.Records = len(lsns)
	var tries []string
	for i := 0; i < len(blks) && len(tries) < 8; i++ {
		if blks[i] == st.Head {
			continue // reading from the head reads nothing
		}
		out, err = logprint.Run(5*time.Minute, img, "-s", strconv.Itoa(int(blks[i])), "-t", "-i")
		if err == nil {
			lt.OldestRecord, lt.ReadFrom = lsns[0], lsns[i]
			return parseLogInodes(out)
		}
		tries = append(tries, fmt.Sprintf("-s %d: %v", blks[i], err))
	}
	return nil, fmt.Errorf("xfs_logprint read the log from none of its oldest records: %s", strings.Join(tries, "; "))
}

// parseLogInodes gathers the inode items of xfs_logprint -t -i.
func parseLogInodes(out string) (map[uint64]*logInode, error) {
	inodes := map[uint64]*logInode{}
	var cur *logInode
	var mode, fields uint64
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if m := inodeItemRE.FindStringSubmatch(line); m != nil {
			ino, _ := strconv.ParseUint(m[1], 16, 64)
			if cur = inodes[ino]; cur == nil {
				cur = &logInode{sizes: map[int64]bool{}}
				inodes[ino] = cur
			}
			cur.items++
			fields, _ = strconv.ParseUint(m[2], 16, 32)
			continue
		}
		if cur == nil {
			continue
		}
		if m := inodeModeRE.FindStringSubmatch(line); m != nil {
			mode, _ = strconv.ParseUint(m[1], 16, 32)
			if mode == 0 {
				cur.freed = true
			} else if fields&(0x4|0x8) != 0 {
				cur.mapped = true
			}
		} else if m := inodeSizeRE.FindStringSubmatch(line); m != nil {
			size, _ := strconv.ParseInt(m[1], 16, 64)
			if mode != 0 {
				cur.sizes[size] = true
			}
			cur = nil
		}
	}
	return inodes, sc.Err()
}
