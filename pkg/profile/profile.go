package profile

import (
	"errors"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
)

var (
	// ErrExists is wrapped when an email is already taken.
	ErrExists = errors.New("profile: email already exists")
	// ErrInvalid is wrapped when an argument can never be stored (an empty
	// email, a malformed id in a seed).
	ErrInvalid = errors.New("profile: invalid")
)

// canonicalID returns the canonical text form of a UUID, and false when s is
// not one.
func canonicalID(s string) (string, bool) {
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return "", false
	}
	var u pgtype.UUID
	if err := u.Scan(s); err != nil {
		return "", false
	}
	return u.String(), true
}

// stamp is how both stores keep times: UTC, microseconds (PostgreSQL's
// precision).
func stamp(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }
