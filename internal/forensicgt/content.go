package forensicgt

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"math/rand/v2"
)

// Content is the data the generator writes to the file at path (absolute
// in the filesystem) for seed: size bytes of a ChaCha8 stream keyed by
// sha256(seed, path). Every byte depends on the path, so a block of one
// file never holds the bytes of another: reused space shows. A sparse or
// preallocated file holds Content only in its written ranges (Truth.Bytes).
func Content(seed uint64, path string, size int64) []byte {
	if size <= 0 {
		return []byte{}
	}
	r := rand.NewChaCha8(key(seed, "content", path))
	b := make([]byte, size)
	r.Read(b)
	return b
}

// key is sha256(seed, purpose, s): the seed of everything deterministic.
func key(seed uint64, purpose, s string) [32]byte {
	h := sha256.New()
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], seed)
	h.Write(b[:])
	h.Write([]byte(purpose))
	h.Write([]byte{0})
	h.Write([]byte(s))
	return [32]byte(h.Sum(nil))
}

// unit is a number in [0, 1) drawn from (seed, purpose, s).
func unit(seed uint64, purpose, s string) float64 {
	k := key(seed, purpose, s)
	return float64(binary.LittleEndian.Uint64(k[:])>>11) / (1 << 53)
}

// sum is the hex sha256 of b.
func sum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}
