package main

import (
	"context"
	"log/slog"

	"github.com/sirupsen/logrus"
)

// logrusHandler sends the standard library's structured log records
// (what the packages below cmd write through log/slog) to logrus, so
// that --log-level and the output format are set in one place and no
// package below cmd imports logrus.
type logrusHandler struct {
	attrs []slog.Attr
	group string
}

func (h *logrusHandler) Enabled(_ context.Context, l slog.Level) bool {
	return logrus.IsLevelEnabled(logrusLevel(l))
}

func (h *logrusHandler) Handle(_ context.Context, r slog.Record) error {
	fields := logrus.Fields{}
	add := func(a slog.Attr) bool {
		key := a.Key
		if h.group != "" {
			key = h.group + "." + key
		}
		if key == "error" {
			key = logrus.ErrorKey
		}
		fields[key] = a.Value.Any()
		return true
	}
	for _, a := range h.attrs {
		add(a)
	}
	r.Attrs(add)
	logrus.WithFields(fields).Log(logrusLevel(r.Level), r.Message)
	return nil
}

func (h *logrusHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &logrusHandler{attrs: append(append([]slog.Attr{}, h.attrs...), as...), group: h.group}
}

func (h *logrusHandler) WithGroup(name string) slog.Handler {
	g := name
	if h.group != "" {
		g = h.group + "." + name
	}
	return &logrusHandler{attrs: h.attrs, group: g}
}

func logrusLevel(l slog.Level) logrus.Level {
	switch {
	case l >= slog.LevelError:
		return logrus.ErrorLevel
	case l >= slog.LevelWarn:
		return logrus.WarnLevel
	case l >= slog.LevelInfo:
		return logrus.InfoLevel
	}
	return logrus.DebugLevel
}
