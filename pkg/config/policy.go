package config

import (
	"slices"
	"sort"
	"strings"

	"github.com/extauthz/extauthz/pkg/authz"
)

// DefaultSourceMaxConns is the pool size of an sql profile source that sets
// no max_conns.
const DefaultSourceMaxConns = 4

// AppNames returns every app name: "default" first (it always exists), then
// the others sorted.
func (c Config) AppNames() []string {
	names := []string{authz.DefaultApp}
	for n := range c.Apps {
		if n != authz.DefaultApp {
			names = append(names, n)
		}
	}
	sort.Strings(names[1:])
	return names
}

// Policies returns one authz.Policy per app, in AppNames order: the
// top-level defaults with the app's overrides merged on, header names
// lower-cased, ProfileHeader added to OwnedHeaders. Call it on a Config
// that passed Validate.
func (c Config) Policies() []authz.Policy {
	names := c.AppNames()
	out := make([]authz.Policy, 0, len(names))
	for _, n := range names {
		out = append(out, c.policy(n))
	}
	return out
}

// AppSource returns the profile source of app (the default app's for a name
// that is not configured), with defaults filled in: Kind builtin, MaxConns
// DefaultSourceMaxConns for sql, Timeout lookup_timeout.
func (c Config) AppSource(app string) ProfileSource {
	a, ok := c.Apps[app]
	if !ok {
		a = c.Apps[authz.DefaultApp]
	}
	ps := a.ProfileSource
	if ps.Kind == "" {
		ps.Kind = SourceBuiltin
	}
	if ps.Kind == SourceSQL && ps.MaxConns == 0 {
		ps.MaxConns = DefaultSourceMaxConns
	}
	if ps.Timeout == 0 {
		ps.Timeout = c.LookupTimeout
	}
	return ps
}

// Effective returns the settings app runs with: Defaults with the app's
// overrides applied.
func (c Config) Effective(app string) AppSettings {
	s, _ := c.settingsFor(app)
	return s
}

// settingsFor merges app's overrides onto the defaults and reports which
// keys the app set itself.
func (c Config) settingsFor(app string) (AppSettings, map[string]bool) {
	s := c.Defaults
	s.OwnedHeaders = slices.Clone(s.OwnedHeaders)
	s.IdentityJWT.Audiences = slices.Clone(s.IdentityJWT.Audiences)
	a, ok := c.Apps[app]
	if !ok {
		return s, map[string]bool{}
	}
	return a.AppOverrides.apply(s)
}

func override[T any](dst *T, src *T, key string, set map[string]bool) {
	if src != nil {
		*dst = *src
		set[key] = true
	}
}

func (o AppOverrides) apply(s AppSettings) (AppSettings, map[string]bool) {
	set := map[string]bool{}
	override(&s.IdentityHeader, o.IdentityHeader, "identity_header", set)
	override(&s.UserHeader, o.UserHeader, "user_header", set)
	override(&s.NameHeader, o.NameHeader, "name_header", set)
	override(&s.IdentityKey, o.IdentityKey, "identity_key", set)
	override(&s.DefaultEmailDomain, o.DefaultEmailDomain, "default_email_domain", set)
	override(&s.AutoRegister, o.AutoRegister, "auto_register", set)
	override(&s.OnMissingIdentity, o.OnMissingIdentity, "on_missing_identity", set)
	override(&s.OnUnknownIdentity, o.OnUnknownIdentity, "on_unknown_identity", set)
	override(&s.ProfileHeader, o.ProfileHeader, "profile_header", set)
	override(&s.ReasonHeader, o.ReasonHeader, "reason_header", set)
	if o.OwnedHeaders != nil {
		s.OwnedHeaders = slices.Clone(*o.OwnedHeaders)
		set["owned_headers"] = true
	}
	if ck := o.Cookie; ck != nil {
		override(&s.Cookie.Name, ck.Name, "cookie.name", set)
		override(&s.Cookie.Domain, ck.Domain, "cookie.domain", set)
		override(&s.Cookie.Path, ck.Path, "cookie.path", set)
		override(&s.Cookie.Secure, ck.Secure, "cookie.secure", set)
		override(&s.Cookie.SameSite, ck.SameSite, "cookie.same_site", set)
	}
	override(&s.SessionMaxAge, o.SessionMaxAge, "session_max_age", set)
	override(&s.RenewAfter, o.RenewAfter, "renew_after", set)
	override(&s.FlushMode, o.FlushMode, "flush_mode", set)
	override(&s.MaxSetCookies, o.MaxSetCookies, "max_set_cookies", set)
	override(&s.CookiesViaRedirect, o.CookiesViaRedirect, "cookies_via_redirect", set)
	override(&s.LoopGuardWindow, o.LoopGuardWindow, "loop_guard_window", set)
	override(&s.RetryAfter, o.RetryAfter, "retry_after", set)
	o.applyIdentityJWT(&s, set)
	return s, set
}

func (c Config) policy(name string) authz.Policy {
	s, _ := c.settingsFor(name)
	a := c.Apps[name]
	lower := strings.ToLower
	p := authz.Policy{
		App:                name,
		Hosts:              normalizedHosts(a.Hosts),
		EmailHeader:        lower(s.IdentityHeader),
		UserHeader:         lower(s.UserHeader),
		NameHeader:         lower(s.NameHeader),
		IdentityKey:        s.IdentityKey,
		DefaultEmailDomain: emailDomain(s.DefaultEmailDomain),
		AutoRegister:       s.AutoRegister,
		OnMissingIdentity:  s.OnMissingIdentity,
		OnUnknownIdentity:  s.OnUnknownIdentity,
		ProfileHeader:      lower(s.ProfileHeader),
		ReasonHeader:       lower(s.ReasonHeader),
		Cookie: authz.CookieSpec{
			Name:     s.Cookie.Name,
			Domain:   s.Cookie.Domain,
			Path:     orSlash(s.Cookie.Path),
			Secure:   s.Cookie.Secure,
			SameSite: canonicalSameSite(s.Cookie.SameSite),
		},
		SessionMaxAge:      s.SessionMaxAge,
		RenewAfter:         s.RenewAfter,
		FlushMode:          s.FlushMode,
		MaxSetCookies:      s.MaxSetCookies,
		LoopGuardWindow:    s.LoopGuardWindow,
		BypassPrefixes:     slices.Clone(a.Bypass),
		CookiesViaRedirect: s.CookiesViaRedirect,
		RetryAfter:         s.RetryAfter,
		IdentityJWT:        tokenPolicy(s.IdentityJWT),
		SignOutURL:         s.SignOutURL,
		LogoutPath:         s.LogoutPath,
	}
	owned := make([]string, 0, len(s.OwnedHeaders)+1)
	for _, h := range append(slices.Clone(s.OwnedHeaders), p.ProfileHeader) {
		if h = lower(strings.TrimSpace(h)); h != "" && !slices.Contains(owned, h) {
			owned = append(owned, h)
		}
	}
	p.OwnedHeaders = owned
	for _, nc := range a.NativeCookies {
		p.NativeCookies = append(p.NativeCookies, authz.NativeCookie{
			Name: nc.Name, Domain: nc.Domain, Path: orSlash(nc.Path), Secure: nc.Secure,
		})
	}
	for _, cr := range a.Credentials {
		p.Credentials = append(p.Credentials, authz.Credential{
			Header: lower(cr.Header), Scheme: cr.Scheme, Prefix: cr.Prefix, Mode: cr.Mode,
		})
	}
	return p
}

func orSlash(path string) string {
	if path == "" {
		return "/"
	}
	return path
}

// emailDomain accepts "example.com" and "@example.com".
func emailDomain(d string) string {
	return strings.ToLower(strings.TrimPrefix(strings.TrimSpace(d), "@"))
}

// canonicalSameSite spells a SameSite value the way pkg/cookie expects.
func canonicalSameSite(v string) string {
	for _, c := range []string{"Lax", "Strict", "None"} {
		if strings.EqualFold(v, c) {
			return c
		}
	}
	return v
}
