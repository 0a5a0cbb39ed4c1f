package authz_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/extauthz/extauthz/pkg/authz"
	"github.com/extauthz/extauthz/pkg/cookie"
)

// FuzzDecide drives the whole decision table with arbitrary headers,
// cookies, paths and policies over fake stores, with or without a transient
// store failure, and checks the invariants that must hold for any input:
// no panic; an allow carries only a profile id a lookup returned, of a
// profile that may be used, and never the client's x-profile-id; no header
// value with CR, LF or NUL; and during a transient failure nobody with a
// live session is logged out or re-keyed, and no session row is deleted.
//
// In the cookie argument $A, $B and $M stand for live session tokens of
// alice, bob and a blocked profile, so that the fuzzer reaches the rows
// behind a live session. Seeds: testdata/fuzz/FuzzDecide.
func FuzzDecide(f *testing.F) {
	f.Add(uint8(0), "GET", "/", "alice@example.com", "", "extauthz_session=$A", "accept", "text/html")
	f.Add(uint8(0), "GET", "/", "bob@example.com", "", "extauthz_session=$A; app_sid=1", "accept", "text/html")
	f.Add(uint8(2), "POST", "/api", "stranger@example.com", "", "extauthz_session=$B; app_sid=1", "x-profile-id", "p-admin")
	f.Add(uint8(1), "GET", "/x", "new@example.com", "new", "", "x-auth-request-user", "other")
	f.Add(uint8(4), "GET", "/", "", "", "extauthz_session=$A", "", "")
	f.Add(uint8(0), "GET", "/", "mallory@example.com", "", "extauthz_session=$M", "", "")
	f.Add(uint8(0x10), "GET", "/", "alice@example.com", "", "extauthz_session=$A", "", "")
	f.Add(uint8(0x20), "GET", "/", "bob@example.com", "", "extauthz_session=$A; app_sid=1", "accept", "text/html")
	f.Add(uint8(0x30), "GET", "/", "alice@example.com", "", "extauthz_session=$A", "", "")
	f.Add(uint8(0x30), "GET", "/", "", "", "extauthz_session=$A", "", "")
	f.Add(uint8(0), "GET", "/public/../admin", "", "", "", "authorization", "Token good")
	f.Add(uint8(0), "GET", "/\r\nlocation: x", "bob@example.com", "", "extauthz_session=$A; app_sid=\r\n", "accept", "text/html")
	f.Add(uint8(0), "GET", "/", "alice@example.com,bob@example.com", "", "extauthz_session=$A,extauthz_session=$B", "", "")
	f.Add(uint8(0), "GET", "/", "\xffalice@example.com", "\x00", "extauthz_session=v1.\xff", "x-extauthz-user", "admin")
	// Found by the fuzzer: a NUL after the service cookie reached the
	// rewritten upstream Cookie header.
	f.Add(uint8(0), "GET", "/", "alice@example.com", "", "extauthz_session=;\x00", "", "")

	f.Fuzz(func(t *testing.T, mode uint8, method, path, emailV, userV, cookieV, hname, hval string) {
		h := newHarness(t, func(p *authz.Policy) {
			p.NativeCookies = []authz.NativeCookie{{Name: "app_sid", Path: "/"}}
			p.BypassPrefixes = []string{"/public"}
			p.OwnedHeaders = []string{"x-extauthz-user"}
			p.Credentials = []authz.Credential{
				{Header: "authorization", Scheme: "Token", Mode: authz.CredentialValidate},
				{Header: "x-api-key", Mode: authz.CredentialPassThrough},
			}
			p.AutoRegister = mode&1 != 0
			if mode&2 != 0 {
				p.FlushMode = authz.FlushInline
			}
			if mode&4 != 0 {
				p.OnMissingIdentity = authz.MissingDeny
			}
			if mode&8 != 0 {
				p.OnUnknownIdentity = authz.UnknownDeny
			}
		})
		live := map[string]cookie.Token{"$A": h.bind(1, alice), "$B": h.bind(2, bob), "$M": h.bind(3, blocked)}
		h.tokens.ByHash[hashOf("good")] = authz.AccessToken{ProfileID: alice.ID, Profile: alice}
		fault := (mode >> 4) & 3
		switch fault {
		case 1:
			h.profiles.Err = authz.ErrUnavailable
		case 2:
			h.sessions.Err = authz.ErrUnavailable
		case 3:
			h.sessions.WriteErr = authz.ErrUnavailable
		}
		cookieV = strings.NewReplacer("$A", string(live["$A"]), "$B", string(live["$B"]), "$M", string(live["$M"])).Replace(cookieV)

		in := authz.Input{Method: method, Path: path, Headers: authz.Headers{}}
		add := func(name, value string) {
			if name == "" {
				return
			}
			in.Headers.Add(name, value)
			if strings.EqualFold(name, "cookie") {
				in.Cookies = append(in.Cookies, cookie.Parse(value)...)
			}
		}
		add("x-auth-request-email", emailV)
		add("x-auth-request-user", userV)
		add("cookie", cookieV)
		add(hname, hval)
		add("x-profile-id", "p-spoofed")
		presentedLive := false
		for _, c := range in.Cookies {
			for _, tok := range live {
				if c.Name == "extauthz_session" && c.Value == string(tok) {
					presentedLive = true
				}
			}
		}

		d := h.decide(in)

		for _, c := range d.SetCookies {
			if strings.ContainsAny(c, "\r\n\x00") {
				t.Fatalf("Set-Cookie with CR/LF/NUL: %q (%s)", c, d.Reason)
			}
		}
		for _, hd := range append(slices.Clone(d.ResponseHeaders), d.UpstreamSet...) {
			if strings.ContainsAny(hd.Name+hd.Value, "\r\n\x00") {
				t.Fatalf("header with CR/LF/NUL: %q: %q (%s)", hd.Name, hd.Value, d.Reason)
			}
		}
		if d.Reason == "" {
			t.Fatalf("decision without a reason: %+v", d)
		}
		if d.Allow {
			switch id := d.ProfileID; {
			case id == "":
			case id == alice.ID || id == bob.ID:
			case strings.HasPrefix(id, "new-") && mode&1 != 0 && fault == 0:
				// auto_register created it in this decision.
			default:
				t.Fatalf("allowed with profile id %q no lookup returned a usable profile for (%s)", id, d.Reason)
			}
			v, set := d.Upstream("x-profile-id")
			switch {
			case set && v != d.ProfileID:
				t.Fatalf("upstream x-profile-id %q, decision profile %q", v, d.ProfileID)
			case !set && !slices.Contains(d.UpstreamRemove, "x-profile-id"):
				t.Fatalf("client x-profile-id neither overwritten nor removed (%s)", d.Reason)
			}
			if !slices.Contains(d.UpstreamRemove, "x-extauthz-user") {
				t.Fatalf("owned header x-extauthz-user not stripped (%s)", d.Reason)
			}
		}
		if fault != 0 {
			// Invariant 3: nobody with a live session is logged out,
			// re-keyed or switched, and no row goes.
			for name, tok := range live {
				if !h.sessions.Has(tok.Hash()) {
					t.Fatalf("fault %d: session %s deleted (%s)", fault, name, d.Reason)
				}
			}
			if _, ok := issued(d); ok {
				t.Fatalf("fault %d: a new session was issued (%s)", fault, d.Reason)
			}
			if presentedLive && expired(d, "extauthz_session") {
				t.Fatalf("fault %d: a live session cookie was expired (%s)", fault, d.Reason)
			}
		}
	})
}
