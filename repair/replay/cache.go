package replay

import (
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/xfsbox/xfsbox/repair/store"
	"github.com/xfsbox/xfsbox/xfsformat"
	xlog "github.com/xfsbox/xfsbox/xfsformat/log"
)

// The replay's buffer cache: what the kernel's recovery keeps in its
// buffer cache and on its delayed-write list, in 512-byte basic blocks
// keyed by disk address, so that buffers of any length over the same
// blocks see each other's changes. Nothing reaches the image until the
// replay ends; then the dirty blocks go out as writes.

// bb is one cached basic block.
type bb struct {
	data  [xlog.BBSize]byte
	dirty bool
}

// bufKey names a buffer: its disk address and length in BBs, as the
// log's items name it.
type bufKey struct {
	daddr int64
	bbs   int
}

// stamp is a write verifier's work due when a buffer is written: the
// transaction's LSN into its header and its CRC (lsnOff < 0: the CRC
// only, every perBlock bytes when perBlock > 0).
type stamp struct {
	lsn            uint64
	lsnOff, crcOff int
	perBlock       int
}

// cache is the replay's buffer cache over an image.
type cache struct {
	img      *store.Image
	limitBBs int64 // the image's size in BBs
	maxBBs   int   // how many BBs the cache may hold
	blocks   map[int64]*bb
	pending  map[bufKey]stamp
	order    []bufKey // pending's keys in the order they became due
}

// maxBufBBs bounds one buffer: 64 KiB, XFS's largest block.
const maxBufBBs = xfsformat.MaxBlockSize / xlog.BBSize

// defaultMaxCacheBBs bounds the blocks a replay holds: 1 GiB of metadata
// changed since the log's tail is far past any log's reach.
const defaultMaxCacheBBs = 1 << 21

func newCache(img *store.Image) *cache {
	return &cache{img: img, limitBBs: img.Size() / xlog.BBSize, maxBBs: defaultMaxCacheBBs,
		blocks: map[int64]*bb{}, pending: map[bufKey]stamp{}}
}

// check refuses a buffer the image cannot hold or no XFS would log.
func (c *cache) check(k bufKey) error {
	if k.bbs <= 0 || k.bbs > maxBufBBs {
		return fmt.Errorf("a buffer of %d basic blocks at daddr %d (XFS buffers are 1 to %d)", k.bbs, k.daddr, maxBufBBs)
	}
	if k.daddr < 0 || k.daddr > c.limitBBs-int64(k.bbs) {
		return fmt.Errorf("a buffer at daddr %d (+%d) outside the filesystem's %d basic blocks", k.daddr, k.bbs, c.limitBBs)
	}
	return nil
}

// read returns a copy of the buffer k as the replay has it so far.
func (c *cache) read(k bufKey) ([]byte, error) {
	if err := c.check(k); err != nil {
		return nil, err
	}
	buf := make([]byte, k.bbs*xlog.BBSize)
	missing := false
	for i := range k.bbs {
		if _, ok := c.blocks[k.daddr+int64(i)]; !ok {
			missing = true
			break
		}
	}
	if missing {
		if err := c.img.ReadAt(buf, k.daddr*xlog.BBSize); err != nil {
			return nil, err
		}
	}
	for i := range k.bbs {
		if b, ok := c.blocks[k.daddr+int64(i)]; ok {
			copy(buf[i*xlog.BBSize:], b.data[:])
		}
	}
	return buf, nil
}

// write puts buf (whole BBs) at daddr in the cache, dirty.
func (c *cache) write(daddr int64, buf []byte) error {
	n := len(buf) / xlog.BBSize
	if err := c.check(bufKey{daddr, n}); err != nil {
		return err
	}
	for i := range n {
		b, ok := c.blocks[daddr+int64(i)]
		if !ok {
			if len(c.blocks) >= c.maxBBs {
				return fmt.Errorf("the log changes more than %d MiB of metadata: too much to replay in memory", c.maxBBs*xlog.BBSize>>20)
			}
			b = &bb{}
			c.blocks[daddr+int64(i)] = b
		}
		copy(b.data[:], buf[i*xlog.BBSize:])
		b.dirty = true
	}
	return nil
}

// due records a write verifier's stamp for buffer k, done at the next
// flush (the latest transaction's LSN wins, as the buffer's log item
// carries the last one).
func (c *cache) due(k bufKey, s stamp) {
	if _, ok := c.pending[k]; !ok { // a key dropped and due again stamps twice, alike
		c.order = append(c.order, k)
	}
	c.pending[k] = s
}

// undue drops buffer k's pending stamp: a later replay gave the buffer
// a verifier that stamps nothing (an inode buffer's), as the kernel's
// buffer keeps one verifier.
func (c *cache) undue(k bufKey) { delete(c.pending, k) }

// flush writes the buffers out as the kernel's delayed-write submission
// does: each pending buffer gets its write verifier's LSN and CRC.
func (c *cache) flush() error {
	for _, k := range c.order {
		s, ok := c.pending[k]
		if !ok {
			continue
		}
		buf, err := c.read(k)
		if err != nil {
			return err
		}
		s.apply(buf)
		if err := c.write(k.daddr, buf); err != nil {
			return err
		}
	}
	clear(c.pending)
	c.order = c.order[:0]
	return nil
}

// apply stamps buf.
func (s stamp) apply(buf []byte) {
	if s.perBlock > 0 {
		for off := 0; off+s.perBlock <= len(buf); off += s.perBlock {
			xfsformat.UpdateCRC(buf[off:off+s.perBlock], s.crcOff)
		}
		return
	}
	if s.lsnOff >= 0 && s.lsnOff+8 <= len(buf) {
		binary.BigEndian.PutUint64(buf[s.lsnOff:], s.lsn)
	}
	xfsformat.UpdateCRC(buf, s.crcOff)
}

// writes returns the dirty blocks as writes, contiguous runs merged, in
// disk order.
func (c *cache) writes() []store.Write {
	var addrs []int64
	for a, b := range c.blocks {
		if b.dirty {
			addrs = append(addrs, a)
		}
	}
	slices.Sort(addrs)
	var out []store.Write
	for i := 0; i < len(addrs); {
		j := i + 1
		for j < len(addrs) && addrs[j] == addrs[j-1]+1 && j-i < 2048 {
			j++
		}
		data := make([]byte, 0, (j-i)*xlog.BBSize)
		for _, a := range addrs[i:j] {
			data = append(data, c.blocks[a].data[:]...)
		}
		out = append(out, store.Write{Off: addrs[i] * xlog.BBSize, Data: data})
		i = j
	}
	return out
}
