package authz

// Render: the final verdict becomes a Decision — status, headers,
// Set-Cookie, body, the redirect hop and Retry-After. Nothing here decides
// a row or writes to a store.

import (
	"encoding/json"
	"html"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/extauthz/extauthz/pkg/cookie"
)

// render turns v into the Decision.
func (t *turn) render(v verdict) Decision {
	if v.newSession {
		t.d.Rekeyed = true
		if !t.setServiceCookie(v.token) {
			// The configured cookie attributes cannot make a Set-Cookie
			// line (a policy that bypassed config validation): fail closed.
			return t.deny(StatusInternalServerError, ReasonMisconfigured, false)
		}
	}
	if v.renew {
		if t.setServiceCookie(v.token) {
			t.d.Renewed = true
		} else {
			v = v.withoutRenewal()
		}
	}
	if v.expireService {
		t.expireServiceCookie()
	}
	t.expireNatives(v.expireNatives)
	if v.stripNatives {
		t.stripAllNatives()
	}
	if v.dropCookies {
		t.d.SetCookies = nil
	}
	t.d.ProfileID = v.profileID
	switch v.answer {
	case answerAllow:
		return t.allow(v.reason)
	case answerFlushFailed:
		return t.flushFailed(v.page, v.refused)
	case answerFlushHop, answerCookieHop:
		return t.hop(v)
	}
	if v.detail != "" {
		t.d.Body = errorBody(v.reason, v.detail)
		t.respond("content-type", "application/json")
	}
	return t.deny(v.status, v.reason, v.retryAfter)
}

// errorBody is a JSON deny body with an error_description.
func errorBody(reason Reason, detail string) string {
	b, err := json.Marshal(struct {
		Error       Reason `json:"error"`
		Description string `json:"error_description"`
	}{reason, detail})
	if err != nil { // strings only: cannot happen
		return `{"error":"` + string(reason) + `"}`
	}
	return string(b)
}

// flushFailed is the loop guard's page. refused says the browser did not
// keep a cookie it was given (the service's own) rather than kept one it was
// told to drop. The page carries the cookie changes planned so far, so that
// a fixed configuration heals the browser on its next request.
func (t *turn) flushFailed(n NativeCookie, refused bool) Decision {
	what := "was expired but the browser sent it again. Its Domain or Path in the extauthz app " +
		"configuration does not match the cookie the app sets."
	if refused {
		what = "was set but the browser did not keep it. Its Domain or Path in the extauthz " +
			"configuration may not be set from this host, or the browser refuses cookies."
	}
	t.d.Body = "<!doctype html><title>Sign-in cookie problem</title>" +
		"<h1>Cookie could not be cleared</h1><p>The cookie <code>" + html.EscapeString(n.Name) +
		"</code> (Domain=" + html.EscapeString(orDash(n.Domain)) + ", Path=" + html.EscapeString(orSlash(n.Path)) +
		") " + what + "</p>\n"
	t.respond("content-type", "text/html; charset=utf-8")
	return t.deny(StatusInternalServerError, ReasonFlushFailed, false)
}

// hop denies with the cookie changes: a 302 back to the same URL for a page
// load, a 401 JSON for anything else. A flush hop also clears the app's
// storage; a hop the loop guard proved looping is the flush_failed page.
func (t *turn) hop(v verdict) Decision {
	body := `{"error":"identity_changed"}`
	if v.answer == answerFlushHop {
		t.d.Flushed = true
		if _, ok := t.d.ResponseHeader("clear-site-data"); !ok {
			t.respond("clear-site-data", `"cache", "storage"`)
		}
	}
	if v.answer != answerFlushHop || v.location != "" {
		body = `{"error":"` + string(v.reason) + `"}`
	}
	if isNavigation(t.in) || (v.location != "" && v.reason == ReasonLogout) {
		if v.loop {
			return t.flushFailed(v.page, v.refused)
		}
		loc := sameURL(t.in.Path)
		if v.location != "" {
			loc = v.location
		}
		t.respond("location", loc)
		return t.deny(StatusFound, v.reason, false)
	}
	t.d.Body = body
	t.respond("content-type", "application/json")
	return t.deny(StatusUnauthorized, v.reason, false)
}

// sameURL returns a safe relative Location for the request target.
func sameURL(raw string) string {
	if raw == "" || raw[0] != '/' || strings.HasPrefix(raw, "//") || strings.HasPrefix(raw, "/\\") || !utf8.ValidString(raw) {
		return "/"
	}
	for i := 0; i < len(raw); i++ {
		if raw[i] < 0x21 || raw[i] == 0x7f {
			return "/"
		}
	}
	return raw
}

// setServiceCookie issues the service cookie for tok.
func (t *turn) setServiceCookie(tok cookie.Token) bool {
	c := t.p.Cookie
	v, err := cookie.SetCookie{
		Name: c.Name, Value: string(tok), Domain: c.Domain, Path: c.Path,
		MaxAge: t.p.SessionMaxAge, Secure: c.Secure, HttpOnly: true, SameSite: c.SameSite,
	}.String()
	if err != nil {
		return false
	}
	t.d.SetCookies = append(t.d.SetCookies, v)
	return true
}

// expireServiceCookie expires the service cookie if the browser sent one.
func (t *turn) expireServiceCookie() {
	if !t.presented {
		return
	}
	if v, ok := t.serviceExpiry(); ok {
		t.d.SetCookies = append(t.d.SetCookies, v)
	}
	t.d.Flushed = true
}

// serviceExpiry is the Set-Cookie line that expires the service cookie;
// false when the configured attributes cannot make one.
func (t *turn) serviceExpiry() (string, bool) {
	c := t.p.Cookie
	v, err := cookie.SetCookie{
		Name: c.Name, Domain: c.Domain, Path: c.Path, Expire: true,
		Secure: c.Secure, HttpOnly: true, SameSite: c.SameSite,
	}.String()
	return v, err == nil
}

// expireNatives expires each native cookie with its exact Domain and Path
// and strips it from the upstream Cookie header.
func (t *turn) expireNatives(natives []NativeCookie) {
	if len(natives) == 0 {
		return
	}
	if t.stripNative == nil {
		t.stripNative = make(map[string]bool, len(natives))
	}
	for _, n := range natives {
		if t.overLimit(len(t.d.SetCookies) + 1) {
			break
		}
		v, err := cookie.SetCookie{Name: n.Name, Domain: n.Domain, Path: n.Path, Expire: true, Secure: n.Secure}.String()
		if err != nil {
			continue
		}
		t.d.SetCookies = append(t.d.SetCookies, v)
		t.stripNative[n.Name] = true
	}
	t.d.Flushed = true
	if _, ok := t.d.ResponseHeader("clear-site-data"); !ok {
		t.respond("clear-site-data", `"cache", "storage"`)
	}
}

// respond adds a browser response header.
func (t *turn) respond(name, value string) {
	t.d.ResponseHeaders = append(t.d.ResponseHeaders, Header{Name: name, Value: value})
}

// stripAllNatives strips every native cookie from the upstream Cookie
// header.
func (t *turn) stripAllNatives() {
	if t.stripNative == nil {
		t.stripNative = make(map[string]bool, len(t.p.NativeCookies))
	}
	for _, n := range t.p.NativeCookies {
		t.stripNative[n.Name] = true
	}
}

// allow finishes an allowing decision.
func (t *turn) allow(reason Reason) Decision {
	t.d.Allow, t.d.Status, t.d.Reason = true, StatusOK, reason
	return t.finish()
}

// deny finishes a denying decision; retryAfter adds Retry-After.
func (t *turn) deny(status int, reason Reason, retryAfter bool) Decision {
	t.d.Allow, t.d.Status, t.d.Reason = false, status, reason
	t.respond("cache-control", "no-store")
	if retryAfter {
		t.respond("retry-after", strconv.Itoa(int(max(t.p.RetryAfter, time.Second)/time.Second)))
	}
	if t.d.Body == "" && status != StatusFound {
		t.d.Body = `{"error":"` + string(reason) + `"}`
		t.respond("content-type", "application/json")
	}
	return t.finish()
}

// finish adds what every decision carries: owned headers stripped or set,
// the service cookie stripped from the upstream Cookie header, the reason.
func (t *turn) finish() Decision {
	p := t.p
	d := &t.d
	d.App = p.App
	if d.Allow {
		for _, h := range p.OwnedHeaders {
			if h != p.ProfileHeader {
				d.UpstreamRemove = append(d.UpstreamRemove, h)
			}
		}
		if d.ProfileID != "" {
			d.UpstreamSet = append(d.UpstreamSet, Header{Name: p.ProfileHeader, Value: d.ProfileID})
		} else if p.ProfileHeader != "" {
			d.UpstreamRemove = append(d.UpstreamRemove, p.ProfileHeader)
		}
		t.rewriteUpstreamCookies()
	}
	if p.ReasonHeader != "" {
		t.respond(p.ReasonHeader, string(d.Reason))
	}
	return *d
}

// rewriteUpstreamCookies removes the service cookie and flushed native
// cookies from the Cookie header the upstream sees. A rewritten header also
// leaves out pairs that are not valid UTF-8: front ends carry header values
// as strings, and one stray cookie must not make the whole answer fail.
func (t *turn) rewriteUpstreamCookies() {
	name := t.p.Cookie.Name
	drop := func(n string) bool { return n == name || t.stripNative[n] }
	rest, changed := cookie.Strip(t.in.Headers.Get("cookie"), drop)
	if !changed {
		return
	}
	if rest != "" {
		t.d.UpstreamSet = append(t.d.UpstreamSet, Header{Name: "cookie", Value: rest})
	} else {
		t.d.UpstreamRemove = append(t.d.UpstreamRemove, "cookie")
	}
}

func orDash(s string) string {
	if s == "" {
		return "(host only)"
	}
	return s
}

func orSlash(s string) string {
	if s == "" {
		return "/"
	}
	return s
}
