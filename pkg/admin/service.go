package admin

import (
	"context"
	"errors"
	"time"

	"github.com/extauthz/extauthz/pkg/authz"
	"github.com/extauthz/extauthz/pkg/profile"
	"github.com/extauthz/extauthz/pkg/token"
)

// ProfileStore is what the admin rules need of the profile store.
type ProfileStore interface {
	LookupProfile(ctx context.Context, email string) (authz.Profile, error)
	ByID(ctx context.Context, id string) (authz.Profile, error)
	AddProfile(ctx context.Context, email, name string, active, blocked bool) (authz.Profile, error)
	SetBlocked(ctx context.Context, email string, blocked bool) (authz.Profile, error)
	SetActive(ctx context.Context, email string, active bool) (authz.Profile, error)
	Delete(ctx context.Context, email string) error
	List(ctx context.Context) ([]authz.Profile, error)
}

// SessionStore is what the admin rules need of the session store.
type SessionStore interface {
	ListByProfile(ctx context.Context, profileID string) ([]authz.Session, error)
	RevokeByProfile(ctx context.Context, profileID string) (int, error)
}

// TokenStore is what the admin rules need of the access-token store.
type TokenStore interface {
	Create(ctx context.Context, profileID, name string, expires time.Time) (token.Issued, error)
	Revoke(ctx context.Context, tok string) error
	List(ctx context.Context, profileID string) ([]authz.AccessToken, error)
}

// ErrInvalid is wrapped by errors about the caller's arguments.
var ErrInvalid = errors.New("invalid argument")

type invalidError struct{ msg string }

func (e *invalidError) Error() string        { return e.msg }
func (e *invalidError) Is(target error) bool { return target == ErrInvalid }

func invalid(msg string) error { return &invalidError{msg: msg} }

// Error is a failed operation: what was being done, and the store's error
// (which wraps authz.ErrNotFound, authz.ErrUnavailable, or neither).
type Error struct {
	What string
	Err  error
}

func (e *Error) Error() string { return e.What + ": " + e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

func fail(what string, err error) error {
	if err == nil {
		return nil
	}
	return &Error{What: what, Err: err}
}

// Message is err as an operator reads it, the same text in the gRPC API and
// the CLI: "profile not found", "email already exists", "revoking
// sessions: store unavailable", or what failed with the store's error for
// anything else, each said once.
func Message(err error) string {
	var e *Error
	switch {
	case !errors.As(err, &e):
		return err.Error()
	case errors.Is(e.Err, authz.ErrNotFound):
		return e.What + " not found"
	case errors.Is(e.Err, profile.ErrExists):
		return "email already exists"
	case authz.IsTransient(e.Err):
		return e.What + ": store unavailable"
	}
	return e.Error()
}

// Ref names a profile by id or by email (normalised as decisions normalise
// the asserted email); exactly one of them.
type Ref struct {
	ID    string
	Email string
}

// Change is what an operator's change to a profile did.
type Change struct {
	Profile authz.Profile
	// RevokesSessions reports a change that revokes the profile's
	// sessions; SessionsRevoked counts them.
	RevokesSessions bool
	SessionsRevoked int
}

// Service holds the operator's rules: what blocking, deactivating or
// deleting a profile does, how a profile is named, how sessions and access
// tokens are revoked. It is plain Go over the stores; the admin gRPC API
// (Server) and the CLI are thin adapters over it.
type Service struct {
	profiles ProfileStore
	sessions SessionStore
	tokens   TokenStore
}

// NewService returns the rules over the stores. tokens may be nil: the
// token operations then fail.
func NewService(profiles ProfileStore, sessions SessionStore, tokens TokenStore) *Service {
	return &Service{profiles: profiles, sessions: sessions, tokens: tokens}
}

// normalizedEmail validates an email the way decisions see it.
func normalizedEmail(raw string) (string, error) {
	e, err := authz.NormalizeEmail(raw)
	if err != nil || e == "" {
		return "", invalid("email: not a valid email address")
	}
	return e, nil
}

// Profile resolves ref. Errors: ErrInvalid, or an *Error about "profile"
// wrapping authz.ErrNotFound or authz.ErrUnavailable.
func (s *Service) Profile(ctx context.Context, ref Ref) (authz.Profile, error) {
	switch {
	case ref.ID != "" && ref.Email != "":
		return authz.Profile{}, invalid("profile: give an id or an email, not both")
	case ref.ID != "":
		p, err := s.profiles.ByID(ctx, ref.ID)
		return p, fail("profile", err)
	case ref.Email != "":
		e, err := normalizedEmail(ref.Email)
		if err != nil {
			return authz.Profile{}, err
		}
		p, err := s.profiles.LookupProfile(ctx, e)
		return p, fail("profile", err)
	}
	return authz.Profile{}, invalid("profile: give an id or an email")
}

// AddProfile creates a profile.
func (s *Service) AddProfile(ctx context.Context, email, name string, active, blocked bool) (authz.Profile, error) {
	e, err := normalizedEmail(email)
	if err != nil {
		return authz.Profile{}, err
	}
	p, err := s.profiles.AddProfile(ctx, e, name, active, blocked)
	return p, fail("adding profile", err)
}

// Profiles lists every profile, deleted ones included.
func (s *Service) Profiles(ctx context.Context) ([]authz.Profile, error) {
	ps, err := s.profiles.List(ctx)
	return ps, fail("listing profiles", err)
}

// A profileChange is one of the operator's changes to a profile.
type profileChange struct {
	what   string // "blocking profile", for errors
	done   string // "profile blocked", for a failure after the change
	set    func(ctx context.Context, ps ProfileStore, email string) (authz.Profile, error)
	revoke bool // the change revokes the profile's sessions
}

// The rules. Blocking, deactivating and deleting revoke the profile's
// sessions: the decision denies such a profile anyway (row 10), and
// revoking means nothing of them survives an unblock, an activation or a
// re-creation. Unblocking and activating leave revoked sessions revoked.
var (
	block = profileChange{"blocking profile", "profile blocked", func(ctx context.Context, ps ProfileStore, email string) (authz.Profile, error) {
		return ps.SetBlocked(ctx, email, true)
	}, true}
	unblock = profileChange{"unblocking profile", "profile unblocked", func(ctx context.Context, ps ProfileStore, email string) (authz.Profile, error) {
		return ps.SetBlocked(ctx, email, false)
	}, false}
	deactivate = profileChange{"deactivating profile", "profile deactivated", func(ctx context.Context, ps ProfileStore, email string) (authz.Profile, error) {
		return ps.SetActive(ctx, email, false)
	}, true}
	activate = profileChange{"activating profile", "profile activated", func(ctx context.Context, ps ProfileStore, email string) (authz.Profile, error) {
		return ps.SetActive(ctx, email, true)
	}, false}
	remove = profileChange{"deleting profile", "profile deleted", func(ctx context.Context, ps ProfileStore, email string) (authz.Profile, error) {
		if err := ps.Delete(ctx, email); err != nil {
			return authz.Profile{}, err
		}
		return ps.LookupProfile(ctx, email) // a deleted profile is still found, marked deleted
	}, true}
)

// Block blocks a profile and revokes its sessions.
func (s *Service) Block(ctx context.Context, ref Ref) (Change, error) {
	return s.change(ctx, ref, block)
}

// Unblock lifts a block.
func (s *Service) Unblock(ctx context.Context, ref Ref) (Change, error) {
	return s.change(ctx, ref, unblock)
}

// Deactivate deactivates a profile and revokes its sessions.
func (s *Service) Deactivate(ctx context.Context, ref Ref) (Change, error) {
	return s.change(ctx, ref, deactivate)
}

// Activate activates a profile.
func (s *Service) Activate(ctx context.Context, ref Ref) (Change, error) {
	return s.change(ctx, ref, activate)
}

// Delete soft-deletes a profile and revokes its sessions.
func (s *Service) Delete(ctx context.Context, ref Ref) (Change, error) {
	return s.change(ctx, ref, remove)
}

// change resolves ref and applies c to it.
func (s *Service) change(ctx context.Context, ref Ref, c profileChange) (Change, error) {
	p, err := s.Profile(ctx, ref)
	if err != nil {
		return Change{}, err
	}
	if p, err = c.set(ctx, s.profiles, p.Email); err != nil {
		return Change{}, fail(c.what, err)
	}
	out := Change{Profile: p, RevokesSessions: c.revoke}
	if c.revoke {
		if out.SessionsRevoked, err = s.sessions.RevokeByProfile(ctx, p.ID); err != nil {
			return out, fail(c.done+"; revoking its sessions", err)
		}
	}
	return out, nil
}

// RevokeSessions deletes every session of a profile: the next request of
// each of its browsers is re-keyed (row 12).
func (s *Service) RevokeSessions(ctx context.Context, ref Ref) (Change, error) {
	p, err := s.Profile(ctx, ref)
	if err != nil {
		return Change{}, err
	}
	n, err := s.sessions.RevokeByProfile(ctx, p.ID)
	if err != nil {
		return Change{}, fail("revoking sessions", err)
	}
	return Change{Profile: p, RevokesSessions: true, SessionsRevoked: n}, nil
}

// Sessions lists a profile's sessions, live and expired-but-not-collected.
func (s *Service) Sessions(ctx context.Context, ref Ref) (authz.Profile, []authz.Session, error) {
	p, err := s.Profile(ctx, ref)
	if err != nil {
		return authz.Profile{}, nil, err
	}
	list, err := s.sessions.ListByProfile(ctx, p.ID)
	return p, list, fail("listing sessions", err)
}

var errNoTokens = errors.New("access tokens are not configured")

// CreateToken issues an access token for a profile; expires zero means
// never. The token text is in the result only: only its hash is stored.
func (s *Service) CreateToken(ctx context.Context, ref Ref, name string, expires time.Time) (token.Issued, error) {
	if s.tokens == nil {
		return token.Issued{}, errNoTokens
	}
	p, err := s.Profile(ctx, ref)
	if err != nil {
		return token.Issued{}, err
	}
	issued, err := s.tokens.Create(ctx, p.ID, name, expires)
	return issued, fail("creating token", err)
}

// RevokeToken revokes a live access token given by its text.
func (s *Service) RevokeToken(ctx context.Context, tok string) error {
	switch {
	case s.tokens == nil:
		return errNoTokens
	case tok == "":
		return invalid("token: empty")
	}
	return fail("live token", s.tokens.Revoke(ctx, tok))
}

// Tokens lists a profile's access tokens, revoked and expired ones included.
func (s *Service) Tokens(ctx context.Context, ref Ref) ([]authz.AccessToken, error) {
	if s.tokens == nil {
		return nil, errNoTokens
	}
	p, err := s.Profile(ctx, ref)
	if err != nil {
		return nil, err
	}
	list, err := s.tokens.List(ctx, p.ID)
	return list, fail("listing tokens", err)
}
