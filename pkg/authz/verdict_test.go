package authz

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/extauthz/extauthz/pkg/cookie"
)

// Stage tests: classify names the writes without making them, apply makes
// them or turns the verdict into row 6/7, render adds nothing of its own.
// (The table's behaviour is tested through Engine.Decide in decide_test.go.)

type stageProfiles map[string]Profile

func (s stageProfiles) LookupProfile(_ context.Context, email string) (Profile, error) {
	if p, ok := s[email]; ok {
		return p, nil
	}
	return Profile{}, ErrNotFound
}

func (s stageProfiles) RegisterProfile(_ context.Context, email, name, _ string) (Profile, error) {
	p := Profile{ID: "p-new", Email: email, Name: name, Active: true}
	s[email] = p
	return p, nil
}

// stageSessions fails every write with writeErr, and counts the writes.
type stageSessions struct {
	rows     map[cookie.Hash]Session
	writeErr error
	writes   int
}

func (s *stageSessions) GetSession(_ context.Context, h cookie.Hash) (Session, error) {
	if r, ok := s.rows[h]; ok {
		return r, nil
	}
	return Session{}, ErrNotFound
}

func (s *stageSessions) write() error { s.writes++; return s.writeErr }

func (s *stageSessions) ReplaceSession(context.Context, cookie.Hash, Session) error { return s.write() }
func (s *stageSessions) DeleteSession(context.Context, cookie.Hash) error           { return s.write() }
func (s *stageSessions) RenewSession(context.Context, cookie.Hash, time.Time, time.Time) error {
	return s.write()
}
func (s *stageSessions) BindSession(context.Context, cookie.Hash, string, []cookie.Hash, time.Time) error {
	return s.write()
}

var stageNow = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

// stageTurn returns a turn for one request: alice is bound to token 1 and
// the profiles hold alice and a blocked mallory.
func stageTurn(t *testing.T, mutate func(*Policy), email, cookies string, accept string) (*turn, *stageSessions, cookie.Token) {
	t.Helper()
	p := DefaultPolicy(DefaultApp)
	p.NativeCookies = []NativeCookie{{Name: "app_sid", Path: "/"}}
	if mutate != nil {
		mutate(&p)
	}
	tok, err := cookie.ParseToken(cookie.TokenPrefix + "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	if err != nil {
		t.Fatal(err)
	}
	ss := &stageSessions{rows: map[cookie.Hash]Session{tok.Hash(): {
		Hash: tok.Hash(), ProfileID: "p-alice", IdentityKey: "email:alice@example.com", Email: "alice@example.com",
		App: p.App, CreatedAt: stageNow.Add(-time.Minute), RenewedAt: stageNow.Add(-time.Minute), ExpiresAt: stageNow.Add(time.Hour),
	}}, writeErr: errors.New("classify must not write")}
	profiles := stageProfiles{
		"alice@example.com":   {ID: "p-alice", Email: "alice@example.com", Active: true},
		"mallory@example.com": {ID: "p-mallory", Email: "mallory@example.com", Active: true, Blocked: true},
	}
	e, err := New(Config{Apps: []App{{Policy: p, Profiles: profiles}}, Sessions: ss, Now: func() time.Time { return stageNow }})
	if err != nil {
		t.Fatal(err)
	}
	in := &Input{Method: "GET", Path: "/", Headers: Headers{}}
	if email != "" {
		in.Headers.Add("x-auth-request-email", email)
	}
	if accept != "" {
		in.Headers.Add("accept", accept)
	}
	cookies = fmt.Sprintf(cookies, tok)
	in.Headers.Add("cookie", cookies)
	in.Cookies = cookie.Parse(cookies)
	a := e.apps[DefaultApp]
	return &turn{e: e, app: a, p: &a.Policy, in: in, now: stageNow}, ss, tok
}

func TestClassifyNamesWritesWithoutMakingThem(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		mutate  func(*Policy)
		email   string
		cookies string
		accept  string
		check   func(t *testing.T, v verdict, tok cookie.Token)
	}{
		{"row 8: a profile to register", func(p *Policy) { p.AutoRegister = true }, "new@example.com", "", "", func(t *testing.T, v verdict, _ cookie.Token) {
			if !v.register {
				t.Errorf("verdict %+v does not register", v)
			}
		}},
		{"row 10: the presented row to delete, both cookies to expire", nil, "mallory@example.com", "extauthz_session=%s; app_sid=1", "", func(t *testing.T, v verdict, tok cookie.Token) {
			if v.answer != answerDeny || v.status != StatusForbidden || v.drop != tok.Hash() || !v.expireService || len(v.expireNatives) != 1 {
				t.Errorf("verdict %+v", v)
			}
		}},
		{"row 11: a renewal due", func(p *Policy) { p.RenewAfter = time.Second }, "alice@example.com", "extauthz_session=%s", "", func(t *testing.T, v verdict, tok cookie.Token) {
			if v.answer != answerAllow || !v.renew || v.token != tok || v.reason != ReasonSessionRenewed {
				t.Errorf("verdict %+v", v)
			}
		}},
		{"row 12: a session to create in place of another person's, a flush hop", nil, "bob@example.com", "extauthz_session=%s; app_sid=1", "text/html", func(t *testing.T, v verdict, tok cookie.Token) {
			if v.answer != answerFlushHop || !v.newSession || v.replace != tok.Hash() || v.next.Email != "bob@example.com" || len(v.next.Stale) != 1 || v.guard == "" {
				t.Errorf("verdict %+v", v)
			}
		}},
		{"row 12 behind a front end that drops an allow's Set-Cookie: a cookie hop", func(p *Policy) { p.CookiesViaRedirect = true }, "alice@example.com", "", "text/html", func(t *testing.T, v verdict, _ cookie.Token) {
			if v.answer != answerCookieHop || !v.newSession {
				t.Errorf("verdict %+v", v)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tu, ss, tok := stageTurn(t, tt.mutate, tt.email, tt.cookies, tt.accept)
			if tt.email == "bob@example.com" {
				tu.app.Profiles.(stageProfiles)["bob@example.com"] = Profile{ID: "p-bob", Email: "bob@example.com", Active: true}
			}
			v := tu.classify(ctx)
			if ss.writes != 0 {
				t.Fatalf("classify wrote %d time(s)", ss.writes)
			}
			tt.check(t, v, tok)
		})
	}
}

// A verdict whose write fails becomes row 6 (or 7) whole: nothing of the
// planned answer survives, and the loop guard records nothing.
func TestApplyFailureIsRowSixOrSeven(t *testing.T) {
	ctx := context.Background()
	for _, werr := range []error{fmt.Errorf("timeout: %w", ErrUnavailable), errors.New("constraint")} {
		for _, email := range []string{"mallory@example.com", "bob@example.com"} {
			tu, ss, _ := stageTurn(t, nil, email, "extauthz_session=%s; app_sid=1", "text/html")
			tu.app.Profiles.(stageProfiles)["bob@example.com"] = Profile{ID: "p-bob", Email: "bob@example.com", Active: true}
			v := tu.classify(ctx)
			ss.writeErr = werr
			got := tu.apply(ctx, v)
			if want := failed(werr); !reflect.DeepEqual(got, want) {
				t.Errorf("%s, %v: apply = %+v, want %+v", email, werr, got, want)
			}
			if !tu.e.hops.empty() {
				t.Errorf("%s, %v: the loop guard recorded a failed outcome", email, werr)
			}
			d := tu.render(got)
			if len(d.SetCookies) != 0 || d.Flushed || d.Rekeyed || d.Allow {
				t.Errorf("%s, %v: rendered %+v", email, werr, d)
			}
			if _, ok := d.ResponseHeader("retry-after"); ok != IsTransient(werr) {
				t.Errorf("%s, %v: Retry-After present %t", email, werr, ok)
			}
		}
	}
}
