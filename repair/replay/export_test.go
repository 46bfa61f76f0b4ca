package replay

import "testing"

// The log writer of replay_test.go for the external tests (package
// replay_test), which may import repair.

// LogWriter writes records at the head of a clean image's log.
type LogWriter struct{ w *logWriter }

// NewLogWriter is newLogWriter.
func NewLogWriter(t testing.TB, img []byte) *LogWriter { return &LogWriter{newLogWriter(t, img)} }

// Transaction writes a one-record checkpoint of the items (each a list
// of regions) and returns its LSN.
func (w *LogWriter) Transaction(tid uint32, items ...[][]byte) uint64 {
	return w.w.transaction(tid, items...)
}

// IntentItem is intentItem.
var IntentItem = intentItem
