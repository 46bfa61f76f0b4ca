package campaign

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
)

// SameBytes returns nil when files a and b hold the same bytes, else an
// error naming the first differing offset (a whole-image check that the
// restores left nothing behind).
func SameBytes(ctx context.Context, a, b string) error {
	fa, err := os.Open(a)
	if err != nil {
		return err
	}
	defer fa.Close()
	fb, err := os.Open(b)
	if err != nil {
		return err
	}
	defer fb.Close()
	const chunk = 1 << 20
	ba, bb := make([]byte, chunk), make([]byte, chunk)
	for off := int64(0); ; off += chunk {
		if err := ctx.Err(); err != nil {
			return err
		}
		na, ea := io.ReadFull(fa, ba)
		nb, eb := io.ReadFull(fb, bb)
		if na != nb || !bytes.Equal(ba[:na], bb[:nb]) {
			i := 0
			for i < na && i < nb && ba[i] == bb[i] {
				i++
			}
			return fmt.Errorf("campaign: %s and %s differ at byte %d", a, b, off+int64(i))
		}
		if ea == io.EOF || ea == io.ErrUnexpectedEOF {
			if eb != ea {
				return fmt.Errorf("campaign: %s and %s differ in length", a, b)
			}
			return nil
		}
		if ea != nil {
			return ea
		}
		if eb != nil {
			return eb
		}
	}
}
