package config

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/extauthz/extauthz/pkg/authz"
)

// IdentityJWT takes an app's identity from a signed token (identity_jwt).
// It is on when Issuer is set.
type IdentityJWT struct {
	// Header carries the token: "authorization" reads "Bearer <jwt>"
	// (oauth2-proxy --set-authorization-header passes the id_token); any
	// other header (x-pomerium-jwt-assertion, cf-access-jwt-assertion,
	// x-goog-iap-jwt-assertion) the raw token.
	Header string `yaml:"header"`
	// Issuer is the expected "iss".
	Issuer string `yaml:"issuer"`
	// Audiences: "aud" must contain one of them (the proxy's client id).
	Audiences []string `yaml:"audiences"`
	// JWKSURL is the issuer's key set; "" discovers it from the issuer's
	// /.well-known/openid-configuration.
	JWKSURL string `yaml:"jwks_url"`
	// EmailClaim names the claim holding the email.
	EmailClaim string `yaml:"email_claim"`
	// Require: without a valid token the request has no identity (rows
	// 4–5), whatever the plain identity header says.
	Require bool `yaml:"require"`
	// Leeway is the clock skew allowed on exp, nbf and iat.
	Leeway time.Duration `yaml:"leeway"`
}

// On reports whether identity_jwt is configured.
func (j IdentityJWT) On() bool { return j.Issuer != "" }

// IdentityJWTOverride overrides single keys of the inherited identity_jwt.
type IdentityJWTOverride struct {
	Header     *string        `yaml:"header,omitempty"`
	Issuer     *string        `yaml:"issuer,omitempty"`
	Audiences  *[]string      `yaml:"audiences,omitempty"`
	JWKSURL    *string        `yaml:"jwks_url,omitempty"`
	EmailClaim *string        `yaml:"email_claim,omitempty"`
	Require    *bool          `yaml:"require,omitempty"`
	Leeway     *time.Duration `yaml:"leeway,omitempty"`
}

// defaultIdentityJWT is identity_jwt's defaults of the default policy's
// tp (off: no issuer).
func defaultIdentityJWT(tp authz.TokenPolicy) IdentityJWT {
	return IdentityJWT{Header: tp.Header, Audiences: []string{}, EmailClaim: tp.EmailClaim, Leeway: tp.Leeway, Require: tp.Require}
}

// applyIdentityJWT applies o's identity_jwt, sign_out_url and logout_path
// onto s.
func (o AppOverrides) applyIdentityJWT(s *AppSettings, set map[string]bool) {
	override(&s.SignOutURL, o.SignOutURL, "sign_out_url", set)
	override(&s.LogoutPath, o.LogoutPath, "logout_path", set)
	j := o.IdentityJWT
	if j == nil {
		return
	}
	override(&s.IdentityJWT.Header, j.Header, "identity_jwt.header", set)
	override(&s.IdentityJWT.Issuer, j.Issuer, "identity_jwt.issuer", set)
	if j.Audiences != nil {
		s.IdentityJWT.Audiences = slices.Clone(*j.Audiences)
		set["identity_jwt.audiences"] = true
	}
	override(&s.IdentityJWT.JWKSURL, j.JWKSURL, "identity_jwt.jwks_url", set)
	override(&s.IdentityJWT.EmailClaim, j.EmailClaim, "identity_jwt.email_claim", set)
	override(&s.IdentityJWT.Require, j.Require, "identity_jwt.require", set)
	override(&s.IdentityJWT.Leeway, j.Leeway, "identity_jwt.leeway", set)
}

// tokenPolicy is what the decision sees of identity_jwt.
func tokenPolicy(j IdentityJWT) authz.TokenPolicy {
	var aud []string
	if len(j.Audiences) > 0 {
		aud = slices.Clone(j.Audiences)
	}
	return authz.TokenPolicy{
		Header: strings.ToLower(strings.TrimSpace(j.Header)), Issuer: j.Issuer, Audiences: aud,
		JWKSURL: j.JWKSURL, EmailClaim: j.EmailClaim, Leeway: j.Leeway, Require: j.Require,
	}
}

// checkIdentityJWT checks identity_jwt, sign_out_url and logout_path.
func checkIdentityJWT(p *problems, s AppSettings, key keyFunc) {
	checkSignOut(p, s, key)
	j := s.IdentityJWT
	if !j.On() {
		if j.Require {
			p.add(key("identity_jwt.require", "identity_jwt.issuer"), "needs identity_jwt.issuer: without it no token can be valid")
		}
		return
	}
	checkURL(p, key("identity_jwt.issuer"), j.Issuer, true)
	if j.JWKSURL != "" {
		checkURL(p, key("identity_jwt.jwks_url"), j.JWKSURL, false)
	}
	checkHeader(p, key("identity_jwt.header"), j.Header, true)
	if strings.EqualFold(j.Header, s.IdentityHeader) || strings.EqualFold(j.Header, s.ProfileHeader) {
		p.add(key("identity_jwt.header"), "must differ from identity_header and profile_header, got %q", j.Header)
	}
	if len(j.Audiences) == 0 {
		p.add(key("identity_jwt.audiences"), "must name at least one audience (the proxy's client id)")
	}
	for i, a := range j.Audiences {
		if strings.TrimSpace(a) == "" {
			p.add(fmt.Sprintf("%s[%d]", key("identity_jwt.audiences"), i), "must not be empty")
		}
	}
	if j.EmailClaim == "" {
		p.add(key("identity_jwt.email_claim"), "must name the claim holding the email")
	}
	if j.Leeway < 0 || j.Leeway > 5*time.Minute {
		p.add(key("identity_jwt.leeway"), "must be between 0 and 5m, got %s", formatDuration(j.Leeway))
	}
}

// checkSignOut checks sign_out_url and logout_path.
func checkSignOut(p *problems, s AppSettings, key keyFunc) {
	if s.SignOutURL != "" && !strings.HasPrefix(s.SignOutURL, "/") {
		checkURL(p, key("sign_out_url"), s.SignOutURL, false)
	} else if strings.HasPrefix(s.SignOutURL, "//") {
		p.add(key("sign_out_url"), "must be a path (/oauth2/sign_out) or an absolute http(s) URL, got %q", s.SignOutURL)
	}
	lp := s.LogoutPath
	if lp != "" && (!strings.HasPrefix(lp, "/") || strings.ContainsAny(lp, "?# \t") || strings.HasPrefix(lp, "//")) {
		p.add(key("logout_path"), "must be a path such as /.extauthz/logout, got %q", lp)
	}
}

// checkURL checks an absolute http(s) URL; issuer URLs carry no query or
// fragment (OpenID Connect Discovery).
func checkURL(p *problems, key, s string, issuer bool) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		p.add(key, "must be an absolute http(s) URL, got %q", s)
		return
	}
	if issuer && (u.RawQuery != "" || u.Fragment != "") {
		p.add(key, "must have no query or fragment, got %q", s)
	}
}

// checkTokenCredentials refuses a credential that would read the identity
// token as a programmatic credential first (rows 1–2 come before row 3).
func checkTokenCredentials(p *problems, base string, j IdentityJWT, crs []Credential) {
	if !j.On() {
		return
	}
	for i, cr := range crs {
		if !strings.EqualFold(cr.Header, j.Header) {
			continue
		}
		if !strings.EqualFold(j.Header, "authorization") || cr.Scheme == "" || strings.EqualFold(cr.Scheme, "bearer") {
			p.add(fmt.Sprintf("%s.credentials[%d]", base, i),
				"reads %s, where identity_jwt.header takes the identity token: use another header or scheme", cr.Header)
		}
	}
}
