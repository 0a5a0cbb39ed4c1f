package server

import (
	"io"
	"log/slog"
	"strings"

	"github.com/extauthz/extauthz/pkg/config"
)

// NewLogger builds the process logger from the log settings.
func NewLogger(c config.Log, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: level}
	if strings.EqualFold(c.Format, "text") {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// atLeastInfo is the process logger with its level lowered to INFO if it
// was above, for the few lines an operator must always see.
func atLeastInfo(c config.Log, w io.Writer) *slog.Logger {
	var level slog.Level
	if level.UnmarshalText([]byte(c.Level)) == nil && level > slog.LevelInfo {
		c.Level = "info"
	}
	return NewLogger(c, w)
}
