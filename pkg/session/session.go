package session

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/extauthz/extauthz/pkg/authz"
	"github.com/extauthz/extauthz/pkg/cookie"
)

// ErrInvalid is wrapped when a session can never be stored (zero hash,
// malformed profile id).
var ErrInvalid = errors.New("session: invalid")

// defaultBatch is DeleteExpired's batch size when the caller passes <= 0.
const defaultBatch = 1000

// normalise validates s for storage and returns it as both stores keep it:
// canonical profile id, times in UTC at microsecond precision.
func normalise(s authz.Session) (authz.Session, error) {
	if s.Hash.IsZero() {
		return s, fmt.Errorf("zero token hash: %w", ErrInvalid)
	}
	id, ok := canonicalID(s.ProfileID)
	if !ok {
		return s, fmt.Errorf("profile id is not a UUID: %w", ErrInvalid)
	}
	s.ProfileID = id
	s.CreatedAt = stamp(s.CreatedAt)
	s.RenewedAt = stamp(s.RenewedAt)
	s.ExpiresAt = stamp(s.ExpiresAt)
	s.Stale = slices.Clone(s.Stale) // never share the caller's backing array
	if len(s.Stale) == 0 {
		s.Stale = nil
	}
	return s, nil
}

// staleBytes renders fingerprints for a bytea[] column.
func staleBytes(hs []cookie.Hash) [][]byte {
	out := make([][]byte, len(hs))
	for i := range hs {
		out[i] = hs[i][:]
	}
	return out
}

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

func stamp(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }
