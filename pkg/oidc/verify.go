package oidc

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Errors. Every failure of Verify and VerifyLogout wraps exactly one.
var (
	// ErrInvalid: the token is not acceptable (malformed, bad signature,
	// wrong issuer or audience, expired, refused algorithm, missing
	// claim). The wrapped message says which, without echoing the token.
	ErrInvalid = errors.New("token invalid")
	// ErrUnavailable: the issuer's keys could not be fetched and no held
	// key verifies the token. Nobody is logged out for it.
	ErrUnavailable = errors.New("issuer keys unavailable")
)

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// Algorithms are the only signature algorithms accepted: "none" and every
// HMAC algorithm are refused before any key is looked at, so a public key
// can never serve as an HMAC secret.
var Algorithms = []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA}

// maxTokenLen bounds a token before it is parsed.
const maxTokenLen = 16 << 10

// VerifierConfig wires a Verifier.
type VerifierConfig struct {
	Keys *KeySet
	// Issuer must equal "iss".
	Issuer string
	// Audiences: "aud" must contain one of them.
	Audiences []string
	// EmailClaim names the claim holding the email (default "email").
	EmailClaim string
	// Leeway is the clock skew allowed on exp, nbf and iat (default 30 s).
	Leeway time.Duration
	// CacheSize bounds the verified tokens remembered (default 10000; < 0
	// turns the memory off).
	CacheSize int
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

// Claims are what a verified identity token says.
type Claims struct {
	Issuer   string
	Subject  string
	SID      string // "" when the token has none
	Email    string // the email claim as sent; "" when absent
	IssuedAt time.Time
	Expiry   time.Time
}

// Verifier verifies identity tokens (id_tokens, proxy assertions) of one
// issuer for a set of audiences. Tokens it verified are remembered by
// their SHA-256 until they expire, so a browser presenting the same token
// on every request costs one signature check per token, not per request.
type Verifier struct {
	cfg VerifierConfig

	mu    sync.RWMutex
	cache map[[32]byte]Claims
}

// NewVerifier returns a verifier.
func NewVerifier(cfg VerifierConfig) *Verifier {
	if cfg.EmailClaim == "" {
		cfg.EmailClaim = "email"
	}
	if cfg.Leeway <= 0 {
		cfg.Leeway = 30 * time.Second
	}
	if cfg.CacheSize == 0 {
		cfg.CacheSize = 10_000
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Verifier{cfg: cfg, cache: map[[32]byte]Claims{}}
}

// Issuer returns the issuer this verifier accepts.
func (v *Verifier) Issuer() string { return v.cfg.Issuer }

// Verify checks raw's signature against the issuer's keys, its alg, iss,
// aud, exp (required), nbf and iat, and returns its claims. Errors wrap
// ErrInvalid or ErrUnavailable.
func (v *Verifier) Verify(ctx context.Context, raw string) (Claims, error) {
	now := v.cfg.Now()
	sum := tokenHash(raw)
	if c, ok := v.remembered(sum, now); ok {
		return c, nil
	}
	var extra map[string]json.RawMessage
	std, err := v.parse(ctx, raw, &extra)
	if err != nil {
		return Claims{}, err
	}
	if std.Expiry == nil {
		return Claims{}, invalid("no exp claim")
	}
	if isLogoutEvent(extra) {
		return Claims{}, invalid("a logout token is not an identity token")
	}
	if err := v.validate(std, now); err != nil {
		return Claims{}, err
	}
	c := Claims{Issuer: std.Issuer, Subject: std.Subject, Expiry: std.Expiry.Time()}
	if std.IssuedAt != nil {
		c.IssuedAt = std.IssuedAt.Time()
	}
	if c.SID, err = stringClaim(extra, "sid"); err != nil {
		return Claims{}, err
	}
	if c.Email, err = stringClaim(extra, v.cfg.EmailClaim); err != nil {
		return Claims{}, err
	}
	v.remember(sum, c, now)
	return c, nil
}

// parse checks the form, algorithm and signature of raw and decodes its
// claims.
func (v *Verifier) parse(ctx context.Context, raw string, extra *map[string]json.RawMessage) (jwt.Claims, error) {
	var std jwt.Claims
	if len(raw) > maxTokenLen {
		return std, invalid("token longer than %d bytes", maxTokenLen)
	}
	tok, err := jwt.ParseSigned(raw, Algorithms)
	if err != nil {
		return std, invalid("not a signed JWT with an accepted algorithm (%s): %s", algList(), shortErr(err))
	}
	h := tok.Headers[0]
	key, err := v.cfg.Keys.Key(ctx, h.KeyID, jose.SignatureAlgorithm(h.Algorithm))
	if err != nil {
		return std, err
	}
	if err := tok.Claims(key, &std, extra); err != nil {
		return std, invalid("signature does not verify")
	}
	return std, nil
}

// validate checks iss, aud and the times with the leeway.
func (v *Verifier) validate(std jwt.Claims, now time.Time) error {
	err := std.ValidateWithLeeway(jwt.Expected{
		Issuer: v.cfg.Issuer, AnyAudience: jwt.Audience(v.cfg.Audiences), Time: now,
	}, v.cfg.Leeway)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, jwt.ErrInvalidIssuer):
		return invalid("issuer %q is not %q", clip(std.Issuer), v.cfg.Issuer)
	case errors.Is(err, jwt.ErrInvalidAudience):
		return invalid("audience is not one of %s", strings.Join(v.cfg.Audiences, ", "))
	case errors.Is(err, jwt.ErrExpired):
		return invalid("expired at %s", std.Expiry.Time().UTC().Format(time.RFC3339))
	case errors.Is(err, jwt.ErrNotValidYet):
		return invalid("not valid before %s", std.NotBefore.Time().UTC().Format(time.RFC3339))
	case errors.Is(err, jwt.ErrIssuedInTheFuture):
		return invalid("issued in the future")
	}
	return invalid("claims: %s", shortErr(err))
}

func (v *Verifier) remembered(sum [32]byte, now time.Time) (Claims, bool) {
	if v.cfg.CacheSize < 0 {
		return Claims{}, false
	}
	v.mu.RLock()
	c, ok := v.cache[sum]
	v.mu.RUnlock()
	if !ok || now.Add(-v.cfg.Leeway).After(c.Expiry) {
		return Claims{}, false
	}
	return c, true
}

// remember keeps c until it expires. A full memory drops what expired,
// and everything when nothing did: the cost is one more signature check
// per token, never a wrong answer.
func (v *Verifier) remember(sum [32]byte, c Claims, now time.Time) {
	if v.cfg.CacheSize < 0 {
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.cache) >= v.cfg.CacheSize {
		for k, old := range v.cache {
			if now.Add(-v.cfg.Leeway).After(old.Expiry) {
				delete(v.cache, k)
			}
		}
		if len(v.cache) >= v.cfg.CacheSize {
			clear(v.cache)
		}
	}
	v.cache[sum] = c
}

// tokenHash is the SHA-256 of raw. A token of usual size is copied into a
// stack buffer: converting it to []byte would allocate on every request.
func tokenHash(raw string) [32]byte {
	if len(raw) <= 4096 {
		var buf [4096]byte
		n := copy(buf[:], raw)
		return sha256.Sum256(buf[:n])
	}
	return sha256.Sum256([]byte(raw))
}

// stringClaim returns claim name of extra if it is a string; absent is "".
func stringClaim(extra map[string]json.RawMessage, name string) (string, error) {
	raw, ok := extra[name]
	if !ok || string(raw) == "null" {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", invalid("claim %q is not a string", name)
	}
	return s, nil
}

func algList() string {
	out := make([]string, len(Algorithms))
	for i, a := range Algorithms {
		out[i] = string(a)
	}
	return strings.Join(out, ", ")
}

// clip bounds a value from the token before it is echoed in an error.
func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// shortErr keeps a library error's message bounded for a response body.
func shortErr(err error) string {
	s := strings.TrimPrefix(err.Error(), "go-jose/go-jose: ")
	if len(s) > 120 {
		s = s[:120]
	}
	return s
}
