package authz_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/extauthz/extauthz/pkg/authz"
)

// The loop guard answers 500 flush_failed only on proof that the browser
// kept a cookie it was told to drop (invariant 10). Timing, concurrency and
// transient failures never produce that page.
func TestLoopGuardNeedsProof(t *testing.T) {
	changeOfPerson := func(h *harness, old string) authz.Input {
		return navigation(email("bob@example.com"), "cookie: auth-token=alice-app; extauthz_session="+old)
	}
	for _, tc := range []struct {
		name   string
		policy func(*authz.Policy)
		run    func(t *testing.T, h *harness)
	}{
		{
			name: "six parallel requests of one identity change get the same hop",
			run: func(t *testing.T, h *harness) {
				in := changeOfPerson(h, string(h.bind(1, alice)))
				first := h.decide(in)
				if first.Status != 302 || first.Reason != authz.ReasonIdentityChanged {
					t.Fatalf("first: %d %s", first.Status, first.Reason)
				}
				tok, _ := issued(first)
				for i := 2; i <= 6; i++ {
					d := h.decide(in) // sent before the first answer arrived
					got, _ := issued(d)
					if d.Status != 302 || d.Reason != first.Reason || got != tok {
						t.Fatalf("request %d: %d %s token %v (want the first hop again: 302 %s)", i, d.Status, d.Reason, got == tok, first.Reason)
					}
				}
			},
		},
		{
			name: "six concurrent requests of one identity change get the same Set-Cookie",
			run: func(t *testing.T, h *harness) {
				in := changeOfPerson(h, string(h.bind(1, alice)))
				var wg sync.WaitGroup
				ds := make([]authz.Decision, 6)
				for i := range ds {
					wg.Go(func() { ds[i] = h.decide(in) })
				}
				wg.Wait()
				for i, d := range ds {
					if d.Status != 302 || strings.Join(d.SetCookies, "\n") != strings.Join(ds[0].SetCookies, "\n") {
						t.Errorf("request %d: %d %s %v", i, d.Status, d.Reason, d.SetCookies)
					}
				}
			},
		},
		{
			name: "a second tab a second later repeats the hop",
			run: func(t *testing.T, h *harness) {
				in := changeOfPerson(h, string(h.bind(1, alice)))
				if d := h.decide(in); d.Status != 302 {
					t.Fatalf("first tab: %d %s", d.Status, d.Reason)
				}
				for _, later := range []time.Duration{time.Second, time.Minute} {
					h.now = h.now.Add(later)
					if d := h.decide(in); d.Status != 302 || !expired(d, "auth-token") {
						t.Fatalf("second tab %v later: %d %s", later, d.Status, d.Reason)
					}
				}
			},
		},
		{
			name: "a second device without the service cookie is its own re-key",
			run: func(t *testing.T, h *harness) {
				one := h.decide(navigation(email("bob@example.com"), "cookie: auth-token=laptop"))
				two := h.decide(navigation(email("bob@example.com"), "cookie: auth-token=phone"))
				t1, _ := issued(one)
				t2, ok := issued(two)
				if one.Status != 302 || two.Status != 302 || !ok || t1 == t2 {
					t.Fatalf("laptop %d %s, phone %d %s (same token: %v)", one.Status, one.Reason, two.Status, two.Reason, t1 == t2)
				}
			},
		},
		{
			name:   "a second device without any cookie, cookies via redirect",
			policy: func(p *authz.Policy) { p.CookiesViaRedirect = true },
			run: func(t *testing.T, h *harness) {
				for i, dev := range []string{"laptop", "phone"} {
					if d := h.decide(navigation(email("bob@example.com"))); d.Status != 302 || d.Reason != authz.ReasonRekey {
						t.Fatalf("device %d (%s): %d %s", i, dev, d.Status, d.Reason)
					}
				}
			},
		},
		{
			name: "a tossed dead service token before the live one",
			run: func(t *testing.T, h *harness) {
				dead := testToken(9) // no row: tossed long ago, on another Path
				live := string(h.bind(2, bob))
				for i := range 3 {
					d := h.decide(navigation(email("bob@example.com"),
						"cookie: extauthz_session="+string(dead)+"; extauthz_session="+live+"; auth-token=bob-app"))
					if d.Status == 500 {
						t.Fatalf("request %d: 500 %s", i, d.Reason)
					}
					if tok, ok := issued(d); ok {
						live = string(tok) // the browser keeps the new one beside the dead one
						continue
					}
					if !d.Allow || d.ProfileID != "p-bob" {
						t.Fatalf("request %d: %v %d %s", i, d.Allow, d.Status, d.Reason)
					}
				}
			},
		},
		{
			name: "a flush whose session write fails answers 503 and the retry is a normal re-key",
			run: func(t *testing.T, h *harness) {
				in := changeOfPerson(h, string(h.bind(1, alice)))
				h.sessions.WriteErr = fmt.Errorf("write: %w", authz.ErrUnavailable)
				d := h.decide(in)
				if d.Status != 503 || d.Reason != authz.ReasonLookupUnavailable || len(d.SetCookies) != 0 {
					t.Fatalf("during the outage: %d %s %v", d.Status, d.Reason, d.SetCookies)
				}
				h.sessions.WriteErr = nil
				d = h.decide(in) // the browser retries with the same cookies
				if d.Status != 302 || d.Reason != authz.ReasonIdentityChanged || !expired(d, "auth-token") {
					t.Fatalf("retry: %d %s", d.Status, d.Reason)
				}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mut := []func(*authz.Policy){withNatives}
			if tc.policy != nil {
				mut = append(mut, tc.policy)
			}
			tc.run(t, newHarness(t, mut...))
		})
	}
}

// The bounded hop count ends the loops that no new session can prove: a
// native cookie whose expiry the browser refuses while nobody is signed in,
// and a browser that never keeps the service cookie. A browser that does
// keep it resets the count of shapes that hold nothing of its own.
func TestLoopGuardBoundedHops(t *testing.T) {
	t.Run("a native cookie refused without a binding ends on the page naming it", func(t *testing.T) {
		h := newHarness(t, withNatives)
		in := navigation("cookie: auth-token=previous-person")
		for hop := 1; hop <= authz.MaxHops; hop++ {
			if d := h.decide(in); d.Status != 302 || !expired(d, "auth-token") {
				t.Fatalf("hop %d: %d %s", hop, d.Status, d.Reason)
			}
		}
		d := h.decide(in)
		if d.Status != 500 || d.Reason != authz.ReasonFlushFailed || !strings.Contains(d.Body, "auth-token") || !expired(d, "auth-token") {
			t.Fatalf("after the bound: %d %s %q %v", d.Status, d.Reason, d.Body, d.SetCookies)
		}
		if d := h.decide(req("accept: application/json", "cookie: auth-token=previous-person")); d.Status != 401 {
			t.Fatalf("API requests are never counted: %d %s", d.Status, d.Reason)
		}
	})
	t.Run("cookies via redirect: many first visits that each arrive never add up", func(t *testing.T) {
		h := newHarness(t, func(p *authz.Policy) { p.CookiesViaRedirect = true })
		for visit := range 3 * authz.MaxHops {
			d := h.decide(navigation(email("bob@example.com")))
			tok, ok := issued(d)
			if d.Status != 302 || !ok {
				t.Fatalf("visit %d: %d %s", visit, d.Status, d.Reason)
			}
			if d := h.decide(navigation(email("bob@example.com"), sessCookie(tok))); !d.Allow {
				t.Fatalf("visit %d, after the hop: %d %s", visit, d.Status, d.Reason)
			}
		}
	})
}
