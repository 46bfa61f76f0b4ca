package main

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"
)

// TestSlogToLogrus: what the packages below cmd log through log/slog
// comes out of logrus, at logrus's level, with its fields.
func TestSlogToLogrus(t *testing.T) {
	var buf bytes.Buffer
	out, lvl := logrus.StandardLogger().Out, logrus.GetLevel()
	t.Cleanup(func() { logrus.SetOutput(out); logrus.SetLevel(lvl) })
	logrus.SetOutput(&buf)
	logrus.SetLevel(logrus.InfoLevel)
	l := slog.New(&logrusHandler{})
	l.Info("mounted", "image", "disk.img")
	l.Debug("hidden at info")
	l.With("ag", 3).WithGroup("repair").Warn("operation failed", "error", errors.New("boom"))
	got := buf.String()
	for _, want := range []string{"msg=mounted", "image=disk.img", "level=warning", "ag=3", "error=boom", `msg="operation failed"`} {
		if !strings.Contains(got, want) {
			t.Errorf("logrus output lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "hidden") {
		t.Errorf("a debug record passed the info level:\n%s", got)
	}
}
