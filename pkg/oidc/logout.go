package oidc

import (
	"context"
	"encoding/json"
	"time"
)

// BackchannelLogoutEvent is the member of a logout token's "events" claim
// that makes it one (OpenID Connect Back-Channel Logout 1.0, §2.4).
const BackchannelLogoutEvent = "http://schemas.openid.net/event/backchannel-logout"

// DefaultLogoutMaxAge is how old a logout token's iat may be.
const DefaultLogoutMaxAge = 5 * time.Minute

// LogoutClaims are what a valid logout token says.
type LogoutClaims struct {
	Issuer   string
	Subject  string // "" when only sid is given
	SID      string // "" when only sub is given
	JTI      string
	IssuedAt time.Time
	// UseBy is when the token stops being acceptable (iat + max age +
	// leeway, or exp if sooner): its jti must be remembered until then.
	UseBy time.Time
}

// VerifyLogout validates a logout token as §2.6 asks: signature by the
// issuer's keys with an accepted algorithm; iss, aud, iat (required, not
// in the future, at most maxAge old) and exp (when present) as for an ID
// token; "sub" and/or "sid"; an "events" object with the back-channel
// logout member; no "nonce"; a "jti". That the jti is used once is the
// caller's to check (it must hold across replicas). Errors wrap
// ErrInvalid or ErrUnavailable.
func (v *Verifier) VerifyLogout(ctx context.Context, raw string, maxAge time.Duration) (LogoutClaims, error) {
	if maxAge <= 0 {
		maxAge = DefaultLogoutMaxAge
	}
	var extra map[string]json.RawMessage
	std, err := v.parse(ctx, raw, &extra)
	if err != nil {
		return LogoutClaims{}, err
	}
	now := v.cfg.Now()
	if err := v.validate(std, now); err != nil {
		return LogoutClaims{}, err
	}
	if std.IssuedAt == nil {
		return LogoutClaims{}, invalid("no iat claim")
	}
	iat := std.IssuedAt.Time()
	if now.Sub(iat) > maxAge+v.cfg.Leeway {
		return LogoutClaims{}, invalid("issued more than %s ago", maxAge)
	}
	c := LogoutClaims{Issuer: std.Issuer, Subject: std.Subject, JTI: std.ID, IssuedAt: iat, UseBy: iat.Add(maxAge + v.cfg.Leeway)}
	if std.Expiry != nil && std.Expiry.Time().Add(v.cfg.Leeway).Before(c.UseBy) {
		c.UseBy = std.Expiry.Time().Add(v.cfg.Leeway)
	}
	if c.SID, err = stringClaim(extra, "sid"); err != nil {
		return LogoutClaims{}, err
	}
	if err := logoutShape(extra, c); err != nil {
		return LogoutClaims{}, err
	}
	return c, nil
}

// logoutShape checks the claims that make a token a logout token.
func logoutShape(extra map[string]json.RawMessage, c LogoutClaims) error {
	if c.Subject == "" && c.SID == "" {
		return invalid("neither sub nor sid")
	}
	if c.JTI == "" {
		return invalid("no jti claim")
	}
	if _, ok := extra["nonce"]; ok {
		return invalid("a logout token must not carry a nonce")
	}
	if !isLogoutEvent(extra) {
		return invalid("events claim lacks %s", BackchannelLogoutEvent)
	}
	return nil
}

// isLogoutEvent reports whether the claims hold an "events" object with
// the back-channel logout member, itself a JSON object.
func isLogoutEvent(extra map[string]json.RawMessage) bool {
	raw, ok := extra["events"]
	if !ok {
		return false
	}
	var events map[string]json.RawMessage
	if err := json.Unmarshal(raw, &events); err != nil {
		return false
	}
	member, ok := events[BackchannelLogoutEvent]
	if !ok {
		return false
	}
	var obj map[string]json.RawMessage
	return json.Unmarshal(member, &obj) == nil && obj != nil
}
