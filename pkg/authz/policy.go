package authz

import (
	"time"
)

// IdentityKeyKind says what identity is compared across requests.
type IdentityKeyKind string

const (
	// KeyEmail compares the normalised email (the default).
	KeyEmail IdentityKeyKind = "email"
	// KeyUser compares the stable user id (x-auth-request-user): an email
	// can legitimately change for the same user.
	KeyUser IdentityKeyKind = "user"
)

// MissingIdentity is what to do when the proxy asserts no identity.
type MissingIdentity string

const (
	MissingSession MissingIdentity = "session" // a live session still counts
	MissingDeny    MissingIdentity = "deny"    // 401
)

// UnknownIdentity is what to do when no profile matches and auto-register is off.
type UnknownIdentity string

const (
	UnknownAnonymous UnknownIdentity = "anonymous" // allow without a profile
	UnknownDeny      UnknownIdentity = "deny"      // 401
)

// FlushMode is how cookie changes for an identity change are delivered.
type FlushMode string

const (
	// FlushRedirect denies with a 302 to the same URL (navigations) or a 401
	// JSON (anything else) carrying the cookie changes, so the app never sets
	// a cookie in the same response that expires one.
	FlushRedirect FlushMode = "redirect"
	// FlushInline allows the request and adds the cookie changes to the
	// upstream's response.
	FlushInline FlushMode = "inline"
)

// CookieSpec describes the service's own session cookie.
type CookieSpec struct {
	Name     string // default extauthz_session; "__Host-" prefix supported
	Domain   string
	Path     string // default /
	Secure   bool
	SameSite string // Lax by default
}

// NativeCookie is one of an app's own session cookies, to be expired with
// exactly the attributes it was set with.
type NativeCookie struct {
	Name   string
	Domain string
	Path   string
	Secure bool
}

// Policy is one app's configuration, as plain data.
type Policy struct {
	App string
	// Hosts select this app for a request that names none: exact names and
	// "*.suffix" wildcards, matched on the request's host (see AppFor).
	// The apps' hosts never overlap.
	Hosts []string

	// Headers the SSO proxy asserts identity in (lower-case).
	EmailHeader string // x-auth-request-email
	UserHeader  string // x-auth-request-user
	NameHeader  string // x-auth-request-preferred-username
	IdentityKey IdentityKeyKind
	// DefaultEmailDomain completes a bare user id into an email.
	DefaultEmailDomain string

	AutoRegister      bool
	OnMissingIdentity MissingIdentity
	OnUnknownIdentity UnknownIdentity

	// ProfileHeader is the upstream header carrying the profile id.
	ProfileHeader string
	// OwnedHeaders are stripped from every upstream request whatever the
	// outcome (ProfileHeader is always among them).
	OwnedHeaders []string
	// ReasonHeader, when non-empty, names the browser response header that
	// carries the reason code (x-extauthz-reason); empty turns it off.
	ReasonHeader string

	Cookie        CookieSpec
	SessionMaxAge time.Duration
	RenewAfter    time.Duration

	// NativeCookies are the app's own session cookies (flushed on change).
	NativeCookies []NativeCookie
	FlushMode     FlushMode
	// MaxSetCookies bounds the Set-Cookie lines of one response (0 = no
	// limit). A front end that forwards only one (nginx 1.22) sets 1, and a
	// flush then proceeds one cookie per redirect hop.
	MaxSetCookies int
	// CookiesViaRedirect is for front ends that never pass an allowed
	// check's Set-Cookie to the browser (Caddy's forward_auth): a decision
	// that issues or renews a session, or that expires cookies the app
	// must lose, is sent as a deny hop instead (302 to the same URL for a
	// page load, 401 JSON otherwise); renewals wait for a page load; the
	// mere expiry of a cookie that is already dead server-side is dropped.
	CookiesViaRedirect bool
	// LoopGuardWindow is how long a replica answers repeats of one
	// identity change (same presented binding, identity and native cookie
	// values: what a browser sends in parallel) with the session it already
	// wrote for it, so they all get the same hop and Set-Cookie. It never
	// turns a request into an error; 0 turns the replay off. See HopLedger.
	LoopGuardWindow time.Duration

	// BypassPrefixes are path prefixes (whole segments) that skip session work.
	BypassPrefixes []string
	// Credentials are the programmatic credentials this app recognises.
	Credentials []Credential

	// RetryAfter is the Retry-After sent with 503s.
	RetryAfter time.Duration

	// IdentityJWT takes the identity from a verified token (the App's
	// Identity verifier checks it); zero is off.
	IdentityJWT TokenPolicy
	// SignOutURL is the proxy's sign-out (e.g. /oauth2/sign_out), where a
	// logged-out token and the logout path send the browser, with rd= the
	// URL to come back to.
	SignOutURL string
	// LogoutPath, when set, is the path that logs the person out of every
	// app (e.g. /.extauthz/logout).
	LogoutPath string
}

// CredentialMode says who validates a programmatic credential.
type CredentialMode string

const (
	// CredentialValidate: extauthz validates it against its access tokens.
	CredentialValidate CredentialMode = "validate"
	// CredentialPassThrough: the app validates it; extauthz only promises
	// never to flush it or mint a session for it.
	CredentialPassThrough CredentialMode = "pass_through"
)

// Credential detects a programmatic credential in a request.
type Credential struct {
	// Header is the lower-case header it arrives in (authorization, x-api-key).
	Header string
	// Scheme, when set, is the Authorization scheme ("Token", "Bearer"),
	// matched case-insensitively; the credential is what follows it.
	Scheme string
	// Prefix, when set, must start the credential (e.g. "ol_api_").
	Prefix string
	Mode   CredentialMode
}

// DefaultPolicy returns the documented defaults for an app called name.
func DefaultPolicy(name string) Policy {
	return Policy{
		App:               name,
		EmailHeader:       "x-auth-request-email",
		UserHeader:        "x-auth-request-user",
		NameHeader:        "x-auth-request-preferred-username",
		IdentityKey:       KeyEmail,
		OnMissingIdentity: MissingSession,
		OnUnknownIdentity: UnknownAnonymous,
		ProfileHeader:     "x-profile-id",
		ReasonHeader:      DefaultReasonHeader,
		Cookie: CookieSpec{
			Name:     "extauthz_session",
			Path:     "/",
			Secure:   true,
			SameSite: "Lax",
		},
		SessionMaxAge:   7 * 24 * time.Hour,
		RenewAfter:      6 * time.Hour,
		FlushMode:       FlushRedirect,
		LoopGuardWindow: 10 * time.Second,
		RetryAfter:      2 * time.Second,
		IdentityJWT:     TokenPolicy{Header: "authorization", EmailClaim: "email", Leeway: 30 * time.Second},
	}
}
