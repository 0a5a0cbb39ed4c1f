package config

import (
	"strings"
	"testing"
	"time"
)

func TestIdentityJWTInheritsAndOverrides(t *testing.T) {
	yml := `
identity_jwt:
  issuer: https://idp.example.com
  audiences: [proxy]
  require: true
sign_out_url: /oauth2/sign_out
apps:
  wiki:
    identity_jwt:
      header: x-pomerium-jwt-assertion
      audiences: [wiki-client]
    logout_path: /.extauthz/logout
  crm: {}
`
	c, err := parse(t, yml, map[string]string{})
	if err != nil {
		t.Fatal(err)
	}
	byApp := map[string]int{}
	ps := c.Policies()
	for i, p := range ps {
		byApp[p.App] = i
	}
	crm, wiki := ps[byApp["crm"]], ps[byApp["wiki"]]
	if j := crm.IdentityJWT; !j.On() || j.Header != "authorization" || j.Issuer != "https://idp.example.com" ||
		strings.Join(j.Audiences, ",") != "proxy" || !j.Require || j.EmailClaim != "email" || j.Leeway != 30*time.Second {
		t.Errorf("crm inherits %+v", j)
	}
	if j := wiki.IdentityJWT; j.Header != "x-pomerium-jwt-assertion" || strings.Join(j.Audiences, ",") != "wiki-client" ||
		j.Issuer != "https://idp.example.com" || !j.Require {
		t.Errorf("wiki overrides %+v", j)
	}
	if wiki.SignOutURL != "/oauth2/sign_out" || wiki.LogoutPath != "/.extauthz/logout" || crm.LogoutPath != "" {
		t.Errorf("sign_out_url %q, logout_path %q / %q", wiki.SignOutURL, wiki.LogoutPath, crm.LogoutPath)
	}
}

func TestIdentityJWTValidation(t *testing.T) {
	cases := []struct {
		name string
		yml  string
		want []string
	}{
		{"require without issuer", "identity_jwt: {require: true}\n", []string{"identity_jwt.require: needs identity_jwt.issuer"}},
		{"no audience", "identity_jwt: {issuer: https://idp}\n", []string{"identity_jwt.audiences: must name at least one"}},
		{"bad issuer", "identity_jwt: {issuer: idp.example.com, audiences: [a]}\n", []string{"identity_jwt.issuer: must be an absolute http(s) URL"}},
		{"bad jwks_url", "identity_jwt: {issuer: https://idp, audiences: [a], jwks_url: 'ftp://x'}\n", []string{"identity_jwt.jwks_url: must be an absolute"}},
		{"header is the identity header", "identity_jwt: {issuer: https://idp, audiences: [a], header: X-Auth-Request-Email}\n", []string{"identity_jwt.header: must differ"}},
		{"leeway", "identity_jwt: {issuer: https://idp, audiences: [a], leeway: 1h}\n", []string{"identity_jwt.leeway: must be between 0 and 5m"}},
		{"in an app", "apps:\n  wiki:\n    identity_jwt: {issuer: https://idp, audiences: ['']}\n", []string{"apps.wiki.identity_jwt.audiences[0]: must not be empty"}},
		{"did you mean", "identity_jwt: {isuer: https://idp}\n", []string{"identity_jwt.isuer: unknown key (did you mean issuer?)"}},
		{"logout_path", "logout_path: logout\n", []string{"logout_path: must be a path"}},
		{"sign_out_url", "sign_out_url: 'javascript:x'\n", []string{"sign_out_url: must be an absolute http(s) URL"}},
		{"bearer credential", "identity_jwt: {issuer: https://idp, audiences: [a]}\napps:\n  api:\n    credentials: [{header: Authorization, scheme: Bearer, mode: pass_through}]\n",
			[]string{"apps.api.credentials[0]: reads Authorization, where identity_jwt.header takes the identity token"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := parse(t, c.yml, map[string]string{})
			if err == nil {
				t.Fatal("valid, want an error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

// A credential on another scheme of the same header is fine: "Token …" is
// not "Bearer …".
func TestIdentityJWTBesideATokenCredential(t *testing.T) {
	yml := "identity_jwt: {issuer: https://idp, audiences: [a]}\napps:\n  api:\n    credentials: [{header: Authorization, scheme: Token, mode: pass_through}]\n"
	if _, err := parse(t, yml, map[string]string{}); err != nil {
		t.Fatal(err)
	}
}
