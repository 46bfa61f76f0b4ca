package forensics

import (
	"bytes"
	"testing"
	"time"
)

// TestBodyFormat: TSK's mode strings and an eleven-field body line with
// nanosecond times (or whole seconds), a deleted name marked.
func TestBodyFormat(t *testing.T) {
	for mode, want := range map[uint16]string{
		0o100644: "r/-rw-r--r--", 0o040755: "d/drwxr-xr-x", 0o120777: "l/lrwxrwxrwx",
		0o140755: "h/srwxr-xr-x", 0o104755: "r/-rwsr-xr-x", 0o041777: "d/drwxrwxrwt", 0: "-/?---------",
	} {
		if got := ModeString(mode); got != want {
			t.Errorf("ModeString(%o) = %q, want %q", mode, got, want)
		}
	}
	e := TimelineEntry{Path: "/a|b", Ino: 131, Deleted: true, Mode: 0o100600, UID: 1000, GID: 100, Size: 5,
		Mtime: time.Unix(1700000000, 123456789)}
	var b bytes.Buffer
	if err := WriteBody(&b, e, false); err != nil {
		t.Fatal(err)
	}
	if want := "0|/a\\|b (deleted)|131|r/-rw-------|1000|100|5|0|1700000000.123456789|0|0\n"; b.String() != want {
		t.Errorf("body line %q, want %q", b.String(), want)
	}
	b.Reset()
	WriteBody(&b, e, true)
	if want := "0|/a\\|b (deleted)|131|r/-rw-------|1000|100|5|0|1700000000|0|0\n"; b.String() != want {
		t.Errorf("integer body line %q, want %q", b.String(), want)
	}
}
