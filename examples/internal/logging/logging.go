// Package logging builds the reference programs' logger: text lines on a
// writer, with client-go's own log (klog: leader election, the event
// broadcaster, reflectors) sent through the same logger, so that an
// operator reads one log in one format.
package logging

import (
	"io"
	"log/slog"

	"k8s.io/klog/v2"
)

// New returns a logger of text lines on w at info level, or debug with
// verbosity 1 and more, and makes it klog's output too (klog is global:
// call New once per program).
func New(w io.Writer, verbosity int) *slog.Logger {
	level := slog.LevelInfo
	if verbosity > 0 {
		level = slog.LevelDebug
	}
	l := slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
	klog.SetSlogLogger(l)
	return l
}
