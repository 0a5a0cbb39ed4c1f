package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// ParseDuration is time.ParseDuration that also accepts a leading number of
// days with the suffix "d": "7d", "1.5d", "1d12h". A day is 24 hours.
func ParseDuration(s string) (time.Duration, error) {
	body := strings.TrimSpace(s)
	neg := false
	if body != "" && (body[0] == '-' || body[0] == '+') {
		neg = body[0] == '-'
		body = body[1:]
	}
	i := strings.IndexByte(body, 'd')
	if i < 0 {
		d, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil {
			return 0, fmt.Errorf("invalid duration %q (use e.g. 150ms, 15s, 6h, 7d)", s)
		}
		return d, nil
	}
	num, rest := body[:i], body[i+1:]
	bad := func() (time.Duration, error) {
		return 0, fmt.Errorf("invalid duration %q (days come first: 7d, 1d12h)", s)
	}
	if num == "" || strings.Trim(num, "0123456789.") != "" {
		return bad()
	}
	days, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return bad()
	}
	total := days * float64(24*time.Hour)
	if rest != "" {
		if rest[0] == '-' || rest[0] == '+' {
			return bad()
		}
		r, err := time.ParseDuration(rest)
		if err != nil {
			return bad()
		}
		total += float64(r)
	}
	if total > math.MaxInt64 {
		return 0, fmt.Errorf("invalid duration %q: too long", s)
	}
	d := time.Duration(total)
	if neg {
		d = -d
	}
	return d, nil
}

// formatDuration renders d so that ParseDuration reads it back, preferring
// whole days ("7d") where exact.
func formatDuration(d time.Duration) string {
	const day = 24 * time.Hour
	if d > 0 && d%day == 0 {
		return strconv.FormatInt(int64(d/day), 10) + "d"
	}
	s := d.String() // "6h0m0s" → "6h", "1h30m0s" → "1h30m"
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}
