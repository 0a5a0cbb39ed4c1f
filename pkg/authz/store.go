package authz

import (
	"context"
	"errors"
	"time"

	"github.com/extauthz/extauthz/pkg/cookie"
)

// Store errors. Every store implementation classifies its failures exactly
// once, at its boundary, by wrapping one of these; Decide switches on them with
// errors.Is. An error that wraps none of them is permanent.
var (
	// ErrNotFound: the store answered and the thing does not exist.
	ErrNotFound = errors.New("not found")
	// ErrUnavailable: the store could not answer right now (connection
	// refused or reset, timeout, pool closed or exhausted, server shutting
	// down, SQLSTATE classes 08 and 57P0x). Decisions never log anyone out or
	// switch identity because of it; they answer 503.
	ErrUnavailable = errors.New("store unavailable")
)

// IsTransient reports whether err is a transient store failure.
func IsTransient(err error) bool { return errors.Is(err, ErrUnavailable) }

// ErrRateLimited: the store was not asked, because this replica's rate for
// the operation (auto_register_rate) is used up. Neither an outage nor a
// failure: the caller is told to come back (429 with Retry-After).
var ErrRateLimited = errors.New("rate limited")

// Profile is a user record resolved from an asserted identity.
type Profile struct {
	ID       string
	Email    string // normalised
	Name     string
	Active   bool
	Blocked  bool
	Deleted  bool
	Modified time.Time
	// RegisteredBy is the app whose auto_register created the profile; ""
	// when an operator added it (or seeded it, or adopted it since). An app
	// that does not register unknowns itself does not know a profile
	// another app registered (invariant 9).
	RegisteredBy string
}

// Session binds a browser (through its cookie's token hash) to a profile.
type Session struct {
	Hash        cookie.Hash
	ProfileID   string
	IdentityKey string // what the binding was made for (email or stable user id)
	Email       string // the profile's email when the binding was made
	App         string
	CreatedAt   time.Time
	RenewedAt   time.Time
	ExpiresAt   time.Time
	// Stale are fingerprints (cookie.Fingerprint) of the app's native cookies
	// that were expired when this session was created. One of them coming
	// back means the browser refused the expiry; the app must never see it
	// beside this session's profile.
	Stale []cookie.Hash
	// Apps are the apps besides App that took this binding as their own:
	// apps sharing the browser's cookie scope, visited by the same person
	// (see BindSession). Callers never modify it.
	Apps []string
	// Issuer, Subject and SID are the verified identity token's iss, sub
	// and sid when the session was made (identity_jwt); "" otherwise.
	// Back-channel logout revokes sessions by them.
	Issuer  string
	Subject string
	SID     string
}

// Live reports whether the session is usable at now.
func (s Session) Live(now time.Time) bool { return now.Before(s.ExpiresAt) }

// ProfileSource resolves identities to profiles. Implementations live in
// pkg/profile.
type ProfileSource interface {
	// LookupProfile returns the profile for a normalised email, or an error
	// wrapping ErrNotFound or ErrUnavailable.
	LookupProfile(ctx context.Context, email string) (Profile, error)
	// RegisterProfile returns the profile for email, creating an active one
	// if none exists. Concurrent calls for one email yield one profile. app
	// is the app whose auto_register asks: a source that records it returns
	// it in RegisteredBy of the profile it creates (an existing profile is
	// returned unchanged).
	RegisterProfile(ctx context.Context, email, name, app string) (Profile, error)
}

// SessionStore keeps server-side sessions keyed by token hash.
type SessionStore interface {
	// GetSession returns the session for hash (expired ones included; the
	// caller judges liveness), or an error wrapping ErrNotFound/ErrUnavailable.
	GetSession(ctx context.Context, hash cookie.Hash) (Session, error)
	// ReplaceSession atomically deletes the session old (when non-zero; a
	// missing row is not an error) and creates next.
	ReplaceSession(ctx context.Context, old cookie.Hash, next Session) error
	// DeleteSession deletes the session hash; a missing row is not an error.
	DeleteSession(ctx context.Context, hash cookie.Hash) error
	// RenewSession moves renewed_at and expires_at of a session that is live
	// at renewedAt; a dead or missing session is ErrNotFound (a renewal never
	// brings back a flushed or re-keyed session).
	RenewSession(ctx context.Context, hash cookie.Hash, renewedAt, expiresAt time.Time) error
	// BindSession adds app to the apps of a session that is live at `at`
	// (once; its own App is not added) and appends stale to its Stale
	// fingerprints. A dead or missing session is ErrNotFound (a binding
	// never brings back a flushed or re-keyed session).
	BindSession(ctx context.Context, hash cookie.Hash, app string, stale []cookie.Hash, at time.Time) error
}
