package oidc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"time"

	"github.com/go-jose/go-jose/v4/jwt"
)

// BackchannelPath is where the HTTP check listener takes logout tokens.
const BackchannelPath = "/oidc/backchannel-logout"

// ErrReplay is returned by a Recorder for a jti it has seen before.
var ErrReplay = errors.New("logout token already used")

// Recorder records a valid logout once per (issuer, jti) across replicas
// and revokes its sessions in every app; it returns how many. Errors wrap
// ErrReplay, or are transient when they wrap ErrUnavailable.
type Recorder interface {
	RecordLogout(ctx context.Context, c LogoutClaims, until time.Time) (int, error)
}

// BackchannelConfig wires a Backchannel handler.
type BackchannelConfig struct {
	// Verifiers check logout tokens, one per issuer, each accepting the
	// audiences of every app on that issuer.
	Verifiers []*Verifier
	Recorder  Recorder
	// Ledger learns the logout at once on this replica (others learn it
	// from the change feed).
	Ledger *Ledger
	// MaxAge is how old a logout token's iat may be (DefaultLogoutMaxAge).
	MaxAge time.Duration
	Log    *slog.Logger
	Now    func() time.Time
	// Observe, when set, is told each request's result: ok, invalid,
	// replay, unavailable or error.
	Observe func(result string)
}

// Backchannel serves OpenID Connect Back-Channel Logout 1.0: a POST of a
// form with logout_token. 200 when the logout was recorded; 400 with an
// OAuth-style error body when the token is not acceptable or was used
// before; 503 when the issuer's keys or the store cannot be reached (the
// issuer may retry: nothing was recorded).
type Backchannel struct {
	cfg     BackchannelConfig
	byIssue map[string]*Verifier
}

// NewBackchannel returns the handler.
func NewBackchannel(cfg BackchannelConfig) *Backchannel {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Observe == nil {
		cfg.Observe = func(string) {}
	}
	b := &Backchannel{cfg: cfg, byIssue: map[string]*Verifier{}}
	for _, v := range cfg.Verifiers {
		b.byIssue[v.Issuer()] = v
	}
	return b
}

// maxForm bounds the request body.
const maxForm = 64 << 10

// ServeHTTP implements http.Handler.
func (b *Backchannel) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, http.StatusMethodNotAllowed, "invalid_request", "POST a logout_token")
		return
	}
	raw, err := logoutToken(w, r)
	if err != nil {
		b.cfg.Observe("invalid")
		writeError(w, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	c, err := b.verify(r.Context(), raw)
	if err == nil {
		var n int
		if n, err = b.record(r.Context(), c); err == nil {
			b.cfg.Observe("ok")
			b.cfg.Log.Info("back-channel logout", "issuer", c.Issuer, "by_sid", c.SID != "", "sessions_revoked", n)
			w.WriteHeader(http.StatusOK)
			return
		}
	}
	b.refuse(w, err)
}

// refuse answers a logout that was not recorded.
func (b *Backchannel) refuse(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, ErrReplay):
		b.cfg.Observe("replay")
		b.cfg.Log.Info("back-channel logout refused", "err", err)
		writeError(w, http.StatusBadRequest, "invalid_request", reason(err))
	case errors.Is(err, ErrInvalid):
		b.cfg.Observe("invalid")
		b.cfg.Log.Info("back-channel logout refused", "err", err)
		writeError(w, http.StatusBadRequest, "invalid_request", reason(err))
	case errors.Is(err, ErrUnavailable):
		b.cfg.Observe("unavailable")
		b.cfg.Log.Warn("back-channel logout not recorded", "err", err)
		w.Header().Set("Retry-After", "2")
		writeError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "try again")
	default:
		b.cfg.Observe("error")
		b.cfg.Log.Error("back-channel logout failed", "err", err)
		writeError(w, http.StatusInternalServerError, "server_error", "the logout could not be recorded")
	}
}

// logoutToken reads the form's single logout_token.
func logoutToken(w http.ResponseWriter, r *http.Request) (string, error) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return "", errors.New("the body must be application/x-www-form-urlencoded")
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		return "", errors.New("the body is not a form of at most 64 KiB")
	}
	vs := r.PostForm["logout_token"]
	if len(vs) != 1 || vs[0] == "" {
		return "", errors.New("one logout_token is required")
	}
	return vs[0], nil
}

// verify picks the verifier of the token's issuer and validates the token
// with it.
func (b *Backchannel) verify(ctx context.Context, raw string) (LogoutClaims, error) {
	if len(raw) > maxTokenLen {
		return LogoutClaims{}, invalid("token longer than %d bytes", maxTokenLen)
	}
	tok, err := jwt.ParseSigned(raw, Algorithms)
	if err != nil {
		return LogoutClaims{}, invalid("not a signed JWT with an accepted algorithm (%s)", algList())
	}
	var peek struct {
		Issuer string `json:"iss"`
	}
	if err := tok.UnsafeClaimsWithoutVerification(&peek); err != nil {
		return LogoutClaims{}, invalid("claims are not a JSON object")
	}
	v, ok := b.byIssue[peek.Issuer]
	if !ok {
		return LogoutClaims{}, invalid("issuer %q is not configured", clip(peek.Issuer))
	}
	return v.VerifyLogout(ctx, raw, b.cfg.MaxAge)
}

// record stores the logout (once per jti) and tells this replica's ledger.
func (b *Backchannel) record(ctx context.Context, c LogoutClaims) (int, error) {
	until := b.cfg.Now().Add(Retention)
	n, err := b.cfg.Recorder.RecordLogout(ctx, c, until)
	if err != nil {
		return 0, err
	}
	if b.cfg.Ledger != nil {
		b.cfg.Ledger.Add(Logout{Issuer: c.Issuer, Subject: c.Subject, SID: c.SID, At: c.IssuedAt, Until: until})
	}
	return n, nil
}

func writeError(w http.ResponseWriter, status int, code, desc string) {
	body, err := json.Marshal(struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}{code, desc})
	if err != nil { // strings only: cannot happen
		body = []byte(fmt.Sprintf(`{"error":%q}`, code))
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
