package spoof

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/extauthz/extauthz/internal/pgtest"
	"github.com/extauthz/extauthz/test/harness"
)

// stores runs fn against the binary on the in-memory store and on
// PostgreSQL, with the same config; people are the config's seed_profiles,
// which the operator adds on PostgreSQL.
func stores(t *testing.T, config string, people []string, fn func(t *testing.T, svc *harness.Service, db string)) {
	t.Run("memory", func(t *testing.T) {
		fn(t, harness.Start(t, harness.Options{Config: config}), "")
	})
	t.Run("postgres", func(t *testing.T) {
		db := pgtest.URL(t)
		env := []string{"EXTAUTHZ_DATABASE_URL=" + db}
		harness.CLI(t, env, "migrate")
		for _, p := range people {
			harness.CLI(t, env, "profile", "add", "--email", p)
		}
		fn(t, harness.Start(t, harness.Options{Config: config, DatabaseURL: db}), db)
	})
}

// admissionConfig: plane denies unknowns, open registers them; one
// built-in profile store.
const admissionConfig = `log: {level: warn}
cookie: {secure: false}
apps:
  plane:
    auto_register: false
    on_unknown_identity: deny
  open:
    auto_register: true
seed_profiles:
  - {email: alice@example.com, name: Alice}
`

// TestAutoRegisterAdmitsNobodyElsewhere is issue 12's item 2, request for
// request: a new email visiting an auto_register app became known to an
// app that denies unknowns (invariant 9).
func TestAutoRegisterAdmitsNobodyElsewhere(t *testing.T) {
	stores(t, admissionConfig, []string{"alice@example.com"}, func(t *testing.T, svc *harness.Service, db string) {
		carol := emailH("carol@example.com")
		wantStatus(t, rawHTTP(t, svc.CheckAddr, "GET", "/check/plane", carol), 401, "identity_unknown")
		resp := rawHTTP(t, svc.CheckAddr, "GET", "/check/open", carol)
		wantStatus(t, resp, 200, "rekey")
		carolID := resp.Header.Get("X-Profile-Id")
		resp = rawHTTP(t, svc.CheckAddr, "GET", "/check/plane", carol)
		wantStatus(t, resp, 401, "identity_unknown")
		if id := resp.Header.Get("X-Profile-Id"); id != "" {
			t.Fatalf("plane answered with profile id %q for a person it does not know", id)
		}
		// With the cookie open gave her: still unknown to plane, and her
		// binding with open survives plane's denial.
		tok := sessionFrom(rawHTTP(t, svc.CheckAddr, "GET", "/check/open", carol).Header.Values("Set-Cookie"))
		withOpen := hdr{"Cookie", sessionCookie + "=" + tok}
		resp = rawHTTP(t, svc.CheckAddr, "GET", "/check/plane", carol, withOpen)
		wantStatus(t, resp, 401, "identity_unknown")
		if len(resp.Header.Values("Set-Cookie")) != 0 {
			t.Fatalf("plane's denial changed cookies: %v", resp.Header.Values("Set-Cookie"))
		}
		wantStatus(t, rawHTTP(t, svc.CheckAddr, "GET", "/check/open", carol, withOpen), 200, "session_match")
		// Someone the operator added is known everywhere.
		wantStatus(t, rawHTTP(t, svc.CheckAddr, "GET", "/check/plane", emailH("alice@example.com")), 200, "rekey")
		if db == "" {
			return
		}
		// The operator's profile add of the registered email adopts it:
		// the same profile, now known to plane.
		env := []string{"EXTAUTHZ_DATABASE_URL=" + db}
		if id := strings.TrimSpace(harness.CLI(t, env, "profile", "add", "--email", "carol@example.com")); id != carolID {
			t.Fatalf("profile add of a registered email gave %q, want the registered profile %q", id, carolID)
		}
		deadline := time.Now().Add(5 * time.Second) // the change feed drops the cached answer
		for {
			resp = rawHTTP(t, svc.CheckAddr, "GET", "/check/plane", carol)
			if resp.StatusCode == 200 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("plane after the operator adopted carol: %d %s", resp.StatusCode, resp.Header.Get("X-Extauthz-Reason"))
			}
			time.Sleep(20 * time.Millisecond) // poll interval
		}
		if got := resp.Header.Get("X-Profile-Id"); got != carolID {
			t.Fatalf("adopted profile id %q, want %q", got, carolID)
		}
	})
}

// sessionFrom returns the service cookie's value among Set-Cookie lines.
func sessionFrom(setCookies []string) string {
	for _, c := range setCookies {
		if v, ok := strings.CutPrefix(c, sessionCookie+"="); ok {
			if v, _, _ = strings.Cut(v, ";"); v != "" {
				return v
			}
		}
	}
	return ""
}

// scopeConfig: two apps on one host routed by path, each with its own
// native session cookie, sharing the browser's cookies.
const scopeConfig = `log: {level: warn}
cookie: {secure: false}
apps:
  plane:
    native_cookies:
      - {name: session-id, path: /}
  wiki:
    native_cookies:
      - {name: wiki_sid, path: /}
seed_profiles:
  - {email: alice@example.com, name: Alice}
  - {email: bob@example.com, name: Bob}
`

// navigate is a page load of app as who through the HTTP check, the way
// Traefik asks; the browser keeps what the answer sets, and an app that
// allowed the page sets its own cookie when it has none.
func navigate(t *testing.T, j *harness.Jar, svc *harness.Service, app, native, who string) *http.Response {
	t.Helper()
	resp := rawHTTP(t, svc.CheckAddr, "GET", "/check/"+app, emailH(who), hdr{"Cookie", j.Header()},
		hdr{"X-Forwarded-Method", "GET"}, hdr{"X-Forwarded-Uri", "/" + app + "/page"},
		hdr{"X-Forwarded-Host", "apps.example.com"}, hdr{"X-Forwarded-Proto", "https"}, hdr{"Accept", "text/html"})
	j.Apply(resp.Header.Values("Set-Cookie"))
	if _, ok := j.Value(native); resp.StatusCode == 200 && !ok {
		j.Set(native, who+"-"+app)
	}
	return resp
}

// TestAppsSharingACookieScope is issue 12's item 8: Alice alternating
// plane → wiki → plane → wiki on one host was a 302 rekey each time,
// expiring the other app's cookie and orphaning session rows.
func TestAppsSharingACookieScope(t *testing.T) {
	stores(t, scopeConfig, []string{"alice@example.com", "bob@example.com"}, func(t *testing.T, svc *harness.Service, db string) {
		j := harness.NewJar()
		natives := map[string]string{"plane": "session-id", "wiki": "wiki_sid"}
		resp := navigate(t, j, svc, "plane", natives["plane"], "alice@example.com")
		wantStatus(t, resp, 200, "rekey")
		alice := resp.Header.Get("X-Profile-Id")
		for i := range 6 {
			app := []string{"wiki", "plane"}[i%2]
			resp := navigate(t, j, svc, app, natives[app], "alice@example.com")
			wantStatus(t, resp, 200, "session_match")
			if sc := resp.Header.Values("Set-Cookie"); len(sc) != 0 {
				t.Fatalf("move %d to %s: Set-Cookie %v", i+1, app, sc)
			}
			if id := resp.Header.Get("X-Profile-Id"); id != alice {
				t.Fatalf("move %d to %s: profile %q, want %q", i+1, app, id, alice)
			}
		}
		plane, _ := j.Value("session-id")
		wiki, _ := j.Value("wiki_sid")
		if plane != "alice@example.com-plane" || wiki != "alice@example.com-wiki" {
			t.Fatalf("an app's own cookie was replaced: %s", j.Header())
		}
		aliceTok, _ := j.Value(sessionCookie)

		// Another person at the browser: re-key and flush, in each app.
		resp = navigate(t, j, svc, "wiki", natives["wiki"], "bob@example.com")
		wantStatus(t, resp, 302, "identity_changed")
		resp = navigate(t, j, svc, "wiki", natives["wiki"], "bob@example.com")
		wantStatus(t, resp, 200, "session_match")
		bob := resp.Header.Get("X-Profile-Id")
		if plane, _ := j.Value("session-id"); plane != "alice@example.com-plane" {
			t.Fatalf("wiki expired plane's cookie: %s", j.Header())
		}
		resp = navigate(t, j, svc, "plane", natives["plane"], "bob@example.com")
		if resp.StatusCode != 302 || !slices.ContainsFunc(resp.Header.Values("Set-Cookie"), func(c string) bool {
			return strings.HasPrefix(c, "session-id=;")
		}) {
			t.Fatalf("plane let Bob in beside Alice's plane cookie: %d %s %v", resp.StatusCode,
				resp.Header.Get("X-Extauthz-Reason"), resp.Header.Values("Set-Cookie"))
		}
		resp = navigate(t, j, svc, "plane", natives["plane"], "bob@example.com")
		wantStatus(t, resp, 200, "session_match")
		if id := resp.Header.Get("X-Profile-Id"); id != bob {
			t.Fatalf("plane after the change: profile %q, want Bob's %q", id, bob)
		}
		// Alice's old cookie replayed with no identity yields nobody.
		resp = rawHTTP(t, svc.CheckAddr, "GET", "/check/plane", hdr{"Cookie", sessionCookie + "=" + aliceTok})
		if id := resp.Header.Get("X-Profile-Id"); id != "" {
			t.Fatalf("the previous person's cookie replayed: profile %q", id)
		}
		if db == "" {
			return
		}
		if n := pgtest.Count(t, db, `SELECT count(*) FROM extauthz_sessions`); n != 1 {
			t.Fatalf("%d session rows after two people moved between two apps, want 1 (Bob's)", n)
		}
	})
}
