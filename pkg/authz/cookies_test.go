package authz_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/extauthz/extauthz/pkg/authz"
)

// upstreamCookie returns the Cookie header the decision sends upstream and
// whether the decision touches it at all (set or removed).
func upstreamCookie(d authz.Decision) (value string, touched bool) {
	for _, h := range d.UpstreamSet {
		if h.Name == "cookie" {
			return h.Value, true
		}
	}
	for _, n := range d.UpstreamRemove {
		if n == "cookie" {
			return "", true
		}
	}
	return "", false
}

// Invariant 13: every cookie the service does not own reaches the app byte
// for byte; only the pairs the service removes go.
func TestUpstreamCookiesByteForByte(t *testing.T) {
	for _, tc := range []struct {
		name    string
		lines   func(tok string) []string
		want    string
		touched bool
	}{
		{"commas, quotes and odd names survive",
			func(tok string) []string {
				return []string{`cookie: ga=GA1.2.3,x=y; q="quoted"; extauthz_session=` + tok + `; a@b=1;n=v; lone`}
			},
			`ga=GA1.2.3,x=y; q="quoted"; a@b=1; n=v; lone`, true},
		{"several header lines become one",
			func(tok string) []string {
				return []string{"cookie: a=1", "cookie: extauthz_session=" + tok, `cookie: b="2,3"`}
			},
			`a=1; b="2,3"`, true},
		{"only the service cookie: the header goes",
			func(tok string) []string { return []string{"cookie: extauthz_session=" + tok} },
			"", true},
		{"no service cookie in the header map's joined form: untouched",
			func(tok string) []string { return []string{"cookie: ga=GA1.2.3,x=y; q=\"quoted\""} },
			"", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			tok := string(h.bind(1, alice))
			lines := append([]string{email("alice@example.com")}, tc.lines(tok)...)
			d := h.decide(req(lines...))
			if tc.touched && d.Reason != authz.ReasonSessionMatch {
				t.Fatalf("reason %s, want session_match", d.Reason)
			}
			got, touched := upstreamCookie(d)
			if got != tc.want || touched != tc.touched {
				t.Fatalf("upstream cookie %q (touched %v), want %q (touched %v)", got, touched, tc.want, tc.touched)
			}
		})
	}
}

// Issue 12 item 3a: a cookie whose value holds many comma-joined pairs,
// placed first, must not hide the service cookie or a native cookie
// behind it.
func TestCommaJoinedValueHidesNothing(t *testing.T) {
	h := newHarness(t, withNatives)
	tok := h.bind(1, alice)
	var pref []string
	for i := range 260 {
		pref = append(pref, "j"+strconv.Itoa(i)+"=1")
	}
	in := req(email("bob@example.com"), "cookie: pref="+strings.Join(pref, ",")+"; "+string(sessCookie(tok)[len("cookie: "):])+"; auth-token=ALICE")
	d := h.decide(in)
	if d.Allow || d.Reason != authz.ReasonIdentityChanged {
		t.Fatalf("%v %d %s, want a flush (identity_changed deny)", d.Allow, d.Status, d.Reason)
	}
	if !expired(d, "auth-token") || h.sessions.Has(tok.Hash()) {
		t.Fatalf("Alice's native cookie not expired or her session row kept: %q", d.SetCookies)
	}
}
