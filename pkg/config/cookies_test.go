package config

import "testing"

func TestCookiesViaRedirect(t *testing.T) {
	c := mustParse(t, `
apps:
  caddy-app: {cookies_via_redirect: true}
  other: {}
`, nil)
	got := map[string]bool{}
	for _, p := range c.Policies() {
		got[p.App] = p.CookiesViaRedirect
	}
	if got["default"] || got["other"] || !got["caddy-app"] {
		t.Fatalf("per-app cookies_via_redirect = %v", got)
	}
	c = mustParse(t, "", map[string]string{"EXTAUTHZ_COOKIES_VIA_REDIRECT": "true"})
	if !c.Policies()[0].CookiesViaRedirect {
		t.Fatal("env EXTAUTHZ_COOKIES_VIA_REDIRECT ignored")
	}
}
