package notify

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/extauthz/extauthz/pkg/cookie"
)

// Channel is the LISTEN/NOTIFY channel of invalidation events.
const Channel = "extauthz_invalidate"

// Kind says what an event is about.
type Kind string

// Event kinds.
const (
	KindProfile Kind = "profile"
	KindSession Kind = "session"
	KindToken   Kind = "token"
	// KindLogout: the issuer logged a session (sid) or a subject out
	// (OpenID Connect Back-Channel Logout); every replica adds it to its
	// ledger of logouts.
	KindLogout Kind = "logout"
)

// Event is one invalidation: the cached answer for this key is stale.
type Event struct {
	Kind  Kind   `json:"kind"`
	ID    string `json:"id,omitempty"`    // profile id (profile events)
	Email string `json:"email,omitempty"` // profile email (profile events)
	Hash  string `json:"hash,omitempty"`  // hex SHA-256 of the token (session, token events)
	// Logout events: the issuer, subject and/or sid logged out, when
	// (the logout token's iat) and until when the logout is kept, in Unix
	// microseconds.
	Issuer  string `json:"iss,omitempty"`
	Subject string `json:"sub,omitempty"`
	SID     string `json:"sid,omitempty"`
	At      int64  `json:"logged_out_at,omitempty"`
	Until   int64  `json:"until,omitempty"`
}

// Logout returns the event for a back-channel logout.
func Logout(iss, sub, sid string, at, until time.Time) Event {
	return Event{Kind: KindLogout, Issuer: iss, Subject: sub, SID: sid, At: at.UnixMicro(), Until: until.UnixMicro()}
}

// Profile returns the event for a change to the profile id with email.
func Profile(id, email string) Event { return Event{Kind: KindProfile, ID: id, Email: email} }

// Session returns the event for a change to the session hash.
func Session(h cookie.Hash) Event { return Event{Kind: KindSession, Hash: h.String()} }

// Token returns the event for a change to the access token hash.
func Token(h cookie.Hash) Event { return Event{Kind: KindToken, Hash: h.String()} }

// Payload renders the event as a NOTIFY payload.
func (e Event) Payload() string {
	b, err := json.Marshal(e)
	if err != nil { // strings only: cannot happen
		panic(fmt.Sprintf("notify: marshal: %v", err))
	}
	return string(b)
}

// TokenHash decodes Hash of a session or token event.
func (e Event) TokenHash() (cookie.Hash, error) {
	var h cookie.Hash
	b, err := hex.DecodeString(e.Hash)
	if err != nil || len(b) != len(h) {
		return h, fmt.Errorf("notify: bad hash in %s event", e.Kind)
	}
	copy(h[:], b)
	return h, nil
}

// ErrBadPayload reports a payload that is not an event.
var ErrBadPayload = errors.New("notify: bad payload")

// Parse decodes a NOTIFY payload. It rejects an unknown kind and a kind
// without its key, so a listener can treat every parsed event as actionable
// (and should drop everything it caches when Parse fails).
func Parse(payload string) (Event, error) {
	var e Event
	if err := json.Unmarshal([]byte(payload), &e); err != nil {
		return Event{}, fmt.Errorf("%w: %w", ErrBadPayload, err)
	}
	return validate(e)
}

// validate rejects an event a listener could not act on.
func validate(e Event) (Event, error) {
	switch e.Kind {
	case KindProfile:
		if e.ID == "" && e.Email == "" {
			return Event{}, fmt.Errorf("%w: profile event without id or email", ErrBadPayload)
		}
	case KindLogout:
		if e.Issuer == "" || (e.Subject == "" && e.SID == "") || e.Until <= 0 {
			return Event{}, fmt.Errorf("%w: logout event without issuer, subject or sid, or until", ErrBadPayload)
		}
	case KindSession, KindToken:
		if _, err := e.TokenHash(); err != nil {
			return Event{}, fmt.Errorf("%w: %w", ErrBadPayload, err)
		}
	default:
		return Event{}, fmt.Errorf("%w: unknown kind %q", ErrBadPayload, e.Kind)
	}
	return e, nil
}

// stamped is the wire form Publish sends: the event plus when it was
// published ("at", Unix microseconds), from which a listener measures the
// invalidation lag. Parse ignores "at"; ParseStamped returns it.
type stamped struct {
	Event
	At int64 `json:"at,omitempty"`
}

func (s stamped) payload() string {
	b, err := json.Marshal(s)
	if err != nil { // strings and an integer only: cannot happen
		panic(fmt.Sprintf("notify: marshal: %v", err))
	}
	return string(b)
}

// ParseStamped is Parse that also returns when the event was published, or
// the zero time for a payload without a stamp (an older publisher, a manual
// pg_notify). The stamp is the publisher's clock, taken inside the
// transaction just before commit.
func ParseStamped(payload string) (Event, time.Time, error) {
	var s stamped
	if err := json.Unmarshal([]byte(payload), &s); err != nil {
		return Event{}, time.Time{}, fmt.Errorf("%w: %w", ErrBadPayload, err)
	}
	e, err := validate(s.Event)
	if err != nil || s.At <= 0 {
		return e, time.Time{}, err
	}
	return e, time.UnixMicro(s.At), nil
}

// Execer is what Publish needs: a pgx.Tx, *pgx.Conn or *pgxpool.Pool. Pass
// the transaction that makes the change.
type Execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// Publish sends the events on Channel in one round trip. Inside a
// transaction, PostgreSQL delivers them at commit and drops them on rollback
// (and folds identical payloads into one).
func Publish(ctx context.Context, db Execer, events ...Event) error {
	if len(events) == 0 {
		return nil
	}
	at := time.Now().UnixMicro()
	payloads := make([]string, len(events))
	for i, e := range events {
		payloads[i] = stamped{Event: e, At: at}.payload()
	}
	_, err := db.Exec(ctx, "SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p", Channel, payloads)
	if err != nil {
		return fmt.Errorf("notify: publish: %w", err)
	}
	return nil
}

// SessionPayloadSQL is the SQL expression of the payload Publish sends for
// notify.Session of the bytea token hash hashExpr, stamped with the Unix
// microseconds at (a bigint expression). A statement that deletes or
// updates sessions can then publish, in the same statement, one event per
// row it touched: SELECT pg_notify(channel, <this>) FROM its RETURNING.
func SessionPayloadSQL(hashExpr, at string) string {
	return `json_build_object('kind', '` + string(KindSession) + `', 'hash', encode(` + hashExpr + `, 'hex'), 'at', ` + at + `::bigint)::text`
}
