//go:build linux

package workspace

import (
	"context"
	"fmt"
)

// Cursor reads the records of one or more arrays, one array after
// another, each in index order, a buffer at a time: the way to walk
// several arrays in step (a merge join) without the goroutine switch
// per record that iter.Pull over All costs.
type Cursor struct {
	ctx      context.Context
	arrays   []*Array
	k        int   // the array being read
	i, n     int64 // its next record to read, its length
	buf      []byte
	pos, lim int
	err      error
}

// NewCursor returns a cursor over the arrays in turn; nil arrays are
// empty. The arrays must not change while it is used.
func NewCursor(ctx context.Context, arrays ...*Array) *Cursor {
	c := &Cursor{ctx: ctx, arrays: arrays, k: -1}
	c.nextArray()
	return c
}

func (c *Cursor) nextArray() {
	for c.k++; c.k < len(c.arrays); c.k++ {
		a := c.arrays[c.k]
		if a == nil {
			continue
		}
		if err := a.usable(); err != nil {
			c.err = err
			return
		}
		if err := a.settle(); err != nil {
			c.err = err
			return
		}
		if a.n == 0 {
			continue
		}
		if len(c.buf) < a.r {
			c.buf = getIOBuf(max(a.r, ioBufSize))
		}
		c.i, c.n, c.pos, c.lim = 0, a.n, 0, 0
		return
	}
}

// Next returns the next record, valid until the following call; false
// at the end or on an error (Err says which).
func (c *Cursor) Next() ([]byte, bool) {
	if c.pos < c.lim {
		a := c.arrays[c.k]
		rec := c.buf[c.pos : c.pos+a.r : c.pos+a.r]
		c.pos += a.r
		return rec, true
	}
	for c.err == nil && c.k < len(c.arrays) {
		a := c.arrays[c.k]
		if c.i >= c.n {
			c.nextArray()
			continue
		}
		if err := c.ctx.Err(); err != nil {
			c.err = fmt.Errorf("workspace: cursor stopped at record %d: %w", c.i, err)
			break
		}
		r := int64(a.r)
		cnt := min(int64(len(c.buf))/r, c.n-c.i)
		if err := a.rg.readAt(c.buf[:cnt*r], c.i*r); err != nil {
			c.err = err
			break
		}
		c.i += cnt
		c.pos, c.lim = 0, int(cnt*r)
		return c.Next()
	}
	if c.err == nil && c.buf != nil { // read to the end: the buffer can go
		putIOBuf(c.buf)
		c.buf = nil
	}
	return nil, false
}

// Err is the error that ended the cursor early, if one did.
func (c *Cursor) Err() error { return c.err }
