package authz

// Render: the outcome becomes a Decision — status, headers, Set-Cookie,
// body, the redirect hop and Retry-After.

import (
	"html"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/extauthz/extauthz/pkg/cookie"
)

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
	return t.deny(StatusInternalServerError, ReasonFlushFailed)
}

// hop ends a flush with a deny that carries the cookie changes: a 302 back to
// the same URL for navigations, a 401 JSON for anything else.
func (t *turn) hop(reason Reason) Decision {
	t.d.Flushed = true
	if _, ok := t.d.ResponseHeader("clear-site-data"); !ok {
		t.respond("clear-site-data", `"cache", "storage"`)
	}
	return t.redirect(reason, `{"error":"identity_changed"}`)
}

// redirect denies with the cookie changes planned so far: a 302 to the
// same URL for a page load, a 401 with body otherwise.
func (t *turn) redirect(reason Reason, body string) Decision {
	if isNavigation(t.in) {
		// A browser follows a 302 at once: the same shape coming back more
		// than MaxHops times means it keeps refusing what the hop carries.
		if t.hopKey != "" && t.e.hops.hop(t.hopKey) > MaxHops {
			return t.flushFailed(t.loopCookie, t.loopCookie.Name == t.p.Cookie.Name)
		}
		t.respond("location", sameURL(t.in.Path))
		return t.deny(StatusFound, reason)
	}
	t.d.Body = body
	t.respond("content-type", "application/json")
	return t.deny(StatusUnauthorized, reason)
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
	c := t.p.Cookie
	if v, err := (cookie.SetCookie{
		Name: c.Name, Domain: c.Domain, Path: c.Path, Expire: true,
		Secure: c.Secure, HttpOnly: true, SameSite: c.SameSite,
	}).String(); err == nil {
		t.d.SetCookies = append(t.d.SetCookies, v)
	}
	t.d.Flushed = true
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

// allow finishes an allowing decision.
func (t *turn) allow(reason Reason, profileID string) Decision {
	if t.p.CookiesViaRedirect && len(t.d.SetCookies) > 0 {
		if d, hopped := t.cookiesViaRedirect(reason, profileID); hopped {
			return d
		}
	}
	t.d.Allow, t.d.Status, t.d.Reason, t.d.ProfileID = true, StatusOK, reason, profileID
	return t.finish()
}

// cookiesViaRedirect reshapes an allow that carries Set-Cookie lines for a
// front end that drops them on allowed checks. Expiries of a binding that is
// already dead server-side are simply dropped; a new or renewed session, or
// app cookies to expire, travel on a deny hop. A browser that refuses a new
// session cookie comes back with the same request shape: the hop count of
// that shape (see MaxHops) ends it on the 500 page. A renewal cannot loop:
// the browser still holds the live token, whose renewal is then not due.
func (t *turn) cookiesViaRedirect(reason Reason, profileID string) (Decision, bool) {
	if !t.d.Rekeyed && !t.d.Renewed && len(t.stripNative) == 0 {
		t.d.SetCookies = nil
		return Decision{}, false
	}
	t.d.ProfileID = profileID
	if len(t.stripNative) > 0 {
		return t.hop(reason), true // a flush: the app's storage goes too
	}
	return t.redirect(reason, `{"error":"`+string(reason)+`"}`), true
}

// deny finishes a denying decision.
func (t *turn) deny(status int, reason Reason) Decision {
	t.d.Allow, t.d.Status, t.d.Reason = false, status, reason
	t.respond("cache-control", "no-store")
	if status == StatusServiceUnavailable {
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
