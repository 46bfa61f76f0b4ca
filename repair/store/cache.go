package store

import (
	"container/list"
	"sync"
)

// Cache is a block cache with a bound on the bytes it holds (LRU).
// Cached buffers are shared: callers must treat them as read-only and
// copy before changing. Writers go through Image and call Invalidate.
type Cache struct {
	img   *Image
	limit int64

	mu    sync.Mutex
	bytes int64
	lru   *list.List // of *cacheEntry, front = most recent
	byKey map[cacheKey]*list.Element

	hits, misses int64
}

type cacheKey struct {
	off int64
	n   int
}

type cacheEntry struct {
	key cacheKey
	buf []byte
}

// DefaultCacheBytes bounds the block cache unless told otherwise.
const DefaultCacheBytes = 16 << 20

// NewCache makes a cache over img holding at most limit bytes.
func NewCache(img *Image, limit int64) *Cache {
	if limit <= 0 {
		limit = DefaultCacheBytes
	}
	return &Cache{img: img, limit: limit, lru: list.New(), byKey: map[cacheKey]*list.Element{}}
}

// Read returns n bytes at off, from the cache when present.
func (c *Cache) Read(off int64, n int) ([]byte, error) {
	k := cacheKey{off, n}
	if buf := c.lookup(k); buf != nil {
		return buf, nil
	}

	buf := make([]byte, n)
	if err := c.img.ReadAt(buf, off); err != nil {
		return nil, err
	}
	if int64(n) > c.limit {
		return buf, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.byKey[k]; ok { // raced with another reader
		return e.Value.(*cacheEntry).buf, nil
	}
	c.byKey[k] = c.lru.PushFront(&cacheEntry{k, buf})
	c.bytes += int64(n)
	c.evict()
	return buf, nil
}

// lookup returns the cached buffer of k, or nil, counting the hit or
// miss.
func (c *Cache) lookup(k cacheKey) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.byKey[k]; ok {
		c.lru.MoveToFront(e)
		c.hits++
		return e.Value.(*cacheEntry).buf
	}
	c.misses++
	return nil
}

// evict drops the least recent buffers until the cache is within its
// limit (c.mu held).
func (c *Cache) evict() {
	for c.bytes > c.limit {
		e := c.lru.Back()
		ce := e.Value.(*cacheEntry)
		c.lru.Remove(e)
		delete(c.byKey, ce.key)
		c.bytes -= int64(len(ce.buf))
	}
}

// ReadRun returns the n bytes at off, like Read, and on a miss reads
// the count units of n bytes from off on with one read, keeping each in
// the cache as Read would have: read-ahead for blocks that follow each
// other on disk (a directory's extent). Units already cached keep their
// buffers.
func (c *Cache) ReadRun(off int64, n, count int) ([]byte, error) {
	if count <= 1 || int64(n)*int64(count) > c.limit/4 {
		return c.Read(off, n)
	}
	k := cacheKey{off, n}
	if buf := c.lookup(k); buf != nil {
		return buf, nil
	}
	run := make([]byte, n*count)
	if err := c.img.ReadAt(run, off); err != nil {
		return c.Read(off, n) // past the image's end: the unit alone says
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	first := run[:n:n]
	// The later units first, so that the one asked for is the most
	// recent.
	for i := count - 1; i >= 0; i-- {
		ki := cacheKey{off + int64(i)*int64(n), n}
		if e, ok := c.byKey[ki]; ok {
			if i == 0 {
				first = e.Value.(*cacheEntry).buf
			}
			continue
		}
		c.byKey[ki] = c.lru.PushFront(&cacheEntry{ki, run[i*n : (i+1)*n : (i+1)*n]})
		c.bytes += int64(n)
	}
	c.evict()
	return first, nil
}

// Invalidate drops every cached buffer that overlaps [off, off+n).
func (c *Cache) Invalidate(off int64, n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.byKey {
		if k.off < off+int64(n) && off < k.off+int64(k.n) {
			c.lru.Remove(e)
			delete(c.byKey, k)
			c.bytes -= int64(k.n)
		}
	}
}

// Stats returns hits, misses and bytes held.
func (c *Cache) Stats() (hits, misses, bytes int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hits, c.misses, c.bytes
}

// Clear drops every cached buffer.
func (c *Cache) Clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lru.Init()
	c.byKey = map[cacheKey]*list.Element{}
	c.bytes = 0
}
