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
		return s, fmt.Errorf("profile id is empty, overlong or not printable: %w", ErrInvalid)
	}
	s.ProfileID = id
	s.CreatedAt = stamp(s.CreatedAt)
	s.RenewedAt = stamp(s.RenewedAt)
	s.ExpiresAt = stamp(s.ExpiresAt)
	s.Stale = slices.Clone(s.Stale) // never share the caller's backing array
	if len(s.Stale) == 0 {
		s.Stale = nil
	}
	s.Apps = slices.Clone(s.Apps)
	if len(s.Apps) == 0 {
		s.Apps = nil
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

// maxProfileIDLen bounds a profile id. Ids come from the built-in store
// (UUIDs) or from an app's own database through its profile query (any text:
// a UUID, a number, a slug).
const maxProfileIDLen = 255

// canonicalID returns the canonical text form of a profile id — a UUID in
// lower case, anything else as it is — and false for an empty, overlong or
// non-printable id.
func canonicalID(s string) (string, bool) {
	if s == "" || len(s) > maxProfileIDLen {
		return "", false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] == 0x7f {
			return "", false
		}
	}
	if len(s) == 36 && s[8] == '-' && s[13] == '-' && s[18] == '-' && s[23] == '-' {
		var u pgtype.UUID
		if err := u.Scan(s); err == nil {
			return u.String(), true
		}
	}
	return s, true
}

func stamp(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }
