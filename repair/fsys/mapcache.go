package fsys

import (
	"bytes"
	"errors"
	"sync"

	"github.com/xfsbox/xfsbox/xfsformat"
	"github.com/xfsbox/xfsbox/xfsformat/dinode"
)

// mapCacheRecs bounds the extents the map cache holds (32 bytes each);
// a fork of more than a quarter of it is walked each time instead.
const mapCacheRecs = 1 << 18

// mapCache keeps the extent lists of btree-format forks once walked
// whole and found sound, so that reading a large directory or file by
// offset does not walk its bmbt from the root, verifying every block on
// the way, for each block it reads. An entry holds a copy of the fork's
// bytes in the inode (the bmbt root) and is used only while the inode
// still holds them; Invalidate empties it.
type mapCache struct {
	mu   sync.Mutex
	maps map[mapKey]*knownMap
	recs int
}

type mapKey struct {
	ino  uint64
	attr bool
}

type knownMap struct {
	root []byte
	exts []xfsformat.BmbtRec // nil when the full walk failed
}

// fork is the extent map of in's data fork (attr false) or attr fork,
// served from the map cache when the fork is a btree that was walked
// whole before. A fork whose full walk fails is walked in part by each
// reader, as without the cache, so that what is sound stays readable.
func (fs *FS) fork(in *Inode, attr bool) *dinode.Map {
	m := dinode.NewMap(fs.inodeFS(), in.Core, attr, fs.blockReader())
	n := in.ForkExtents(attr)
	if in.ForkFormat(attr) != xfsformat.FmtBtree || n > mapCacheRecs/4 {
		return m
	}
	key, root := mapKey{in.Ino, attr}, in.Fork(attr)
	c := &fs.mapCache
	c.mu.Lock()
	k := c.maps[key]
	c.mu.Unlock()
	if k == nil || !bytes.Equal(k.root, root) {
		// Collected up to the bound whatever the inode's count says (a
		// damaged count must not let a huge fork in).
		var exts []xfsformat.BmbtRec
		err := m.Walk(0, func(r xfsformat.BmbtRec) error {
			if len(exts) >= mapCacheRecs/4 {
				return errTooManyExtents
			}
			exts = append(exts, r)
			return nil
		})
		k = &knownMap{root: bytes.Clone(root)}
		if err == nil {
			k.exts = exts
		}
		c.put(key, k)
	}
	if k.exts != nil {
		m.Known = k.exts
	}
	return m
}

// errTooManyExtents stops the map cache's walk of a fork past its bound.
var errTooManyExtents = errors.New("more extents than the map cache keeps")

func (c *mapCache) put(key mapKey, k *knownMap) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.maps == nil || c.recs+len(k.exts) > mapCacheRecs {
		c.maps, c.recs = map[mapKey]*knownMap{}, 0
	}
	if old := c.maps[key]; old != nil {
		c.recs -= len(old.exts)
	}
	c.maps[key] = k
	c.recs += len(k.exts)
}

func (c *mapCache) clear() {
	c.mu.Lock()
	c.maps, c.recs = nil, 0
	c.mu.Unlock()
}

// inodeCacheSlots is the size of the inode cache (a few MB of inodes).
const inodeCacheSlots = 4096

// inodeCache keeps recently read inodes that passed the verifier, one
// per slot chosen by inode number, so that a directory looked up in
// over and over (a lookup per entry of a listing) is read and verified
// once. Inodes from it are shared: callers never change them.
// Invalidate empties it.
type inodeCache struct {
	mu    sync.Mutex
	slots []*Inode
}

func (c *inodeCache) get(ino uint64) *Inode {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.slots == nil {
		return nil
	}
	if in := c.slots[ino%inodeCacheSlots]; in != nil && in.Ino == ino {
		return in
	}
	return nil
}

func (c *inodeCache) put(in *Inode) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.slots == nil {
		c.slots = make([]*Inode, inodeCacheSlots)
	}
	c.slots[in.Ino%inodeCacheSlots] = in
}

func (c *inodeCache) clear() {
	c.mu.Lock()
	c.slots = nil
	c.mu.Unlock()
}
