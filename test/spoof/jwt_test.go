package spoof

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/extauthz/extauthz/internal/oidctest"
	"github.com/extauthz/extauthz/internal/pgtest"
	"github.com/extauthz/extauthz/test/harness"
)

// TestIdentityJWTRequireSpoofMatrix: with identity_jwt require: true, a
// client-sent x-auth-request-email without a valid token never yields a
// profile id, on every transport, whatever token it is sent with.
func TestIdentityJWTRequireSpoofMatrix(t *testing.T) {
	cluster := pgtest.NewCluster(t)
	db := cluster.NewDatabase(t)
	dbenv := []string{"EXTAUTHZ_DATABASE_URL=" + db}
	harness.CLI(t, dbenv, "migrate")
	e := &env{t: t}
	e.alice = strings.TrimSpace(harness.CLI(t, dbenv, "profile", "add", "--email", "alice@example.com"))
	e.bob = strings.TrimSpace(harness.CLI(t, dbenv, "profile", "add", "--email", "bob@example.com"))
	idp := oidctest.New(t)
	e.svc = harness.Start(t, harness.Options{DatabaseURL: db, Config: fmt.Sprintf(`log:
  level: warn
identity_jwt:
  issuer: %s
  audiences: [proxy]
  require: true
apps:
  wiki:
    native_cookies:
      - {name: wiki_sid, path: /}
`, idp.URL)})

	now := time.Now()
	claims := func(mutate ...func(map[string]any)) map[string]any {
		c := map[string]any{"iss": idp.URL, "aud": "proxy", "sub": "sub-alice", "email": "alice@example.com",
			"iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
		for _, m := range mutate {
			m(c)
		}
		return c
	}
	forger, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	b64 := func(v any) string { b, _ := json.Marshal(v); return base64.RawURLEncoding.EncodeToString(b) }
	hmac := oidctest.Sign(t, jose.SigningKey{Algorithm: jose.HS256, Key: []byte("the issuer public key, as 32 bytes or more of secret")}, "test-key-1", claims())
	tokens := []struct {
		name string
		hs   []hdr
	}{
		{"no token", nil},
		{"garbage bearer", []hdr{{"authorization", "Bearer " + marker}}},
		{"forged signature", []hdr{{"authorization", "Bearer " + oidctest.Sign(t, jose.SigningKey{Algorithm: jose.ES256, Key: forger}, "test-key-1", claims())}}},
		{"alg none", []hdr{{"authorization", "Bearer " + b64(map[string]string{"alg": "none", "kid": "test-key-1"}) + "." + b64(claims()) + "."}}},
		{"HMAC", []hdr{{"authorization", "Bearer " + hmac}}},
		{"expired", []hdr{{"authorization", "Bearer " + idp.Sign(t, claims(func(c map[string]any) { c["exp"] = now.Add(-time.Hour).Unix() }))}}},
		{"other audience", []hdr{{"authorization", "Bearer " + idp.Sign(t, claims(func(c map[string]any) { c["aud"] = "other" }))}}},
		{"other issuer", []hdr{{"authorization", "Bearer " + idp.Sign(t, claims(func(c map[string]any) { c["iss"] = "https://evil.example" }))}}},
		{"a logout token", []hdr{{"authorization", "Bearer " + idp.Sign(t, idp.LogoutClaims("proxy", "sub-alice", ""))}}},
		{"basic auth", []hdr{{"authorization", "Basic YWxpY2U6eA=="}}},
		{"token in another header", []hdr{{"x-pomerium-jwt-assertion", idp.IDToken(t, "proxy", "alice@example.com", "sub-alice", "")}}},
		{"bob's valid token", []hdr{{"authorization", "Bearer " + idp.IDToken(t, "proxy", "bob@example.com", "sub-bob", "")}}},
		{"alice's and bob's tokens", []hdr{{"authorization", "Bearer " + idp.IDToken(t, "proxy", "alice@example.com", "sub-alice", "")},
			{"authorization", "Bearer " + idp.IDToken(t, "proxy", "bob@example.com", "sub-bob", "")}}},
	}
	for _, tk := range tokens {
		t.Run(tk.name, func(t *testing.T) {
			for _, tr := range transports {
				t.Run(string(tr), func(t *testing.T) {
					e := *e
					e.t = t
					hs := append([]hdr{emailH("alice@example.com"), {"x-profile-id", e.alice}}, tk.hs...)
					r := e.send(tr, req{headers: hs})
					common(t, &e, r)
					if r.profile == e.alice {
						t.Fatalf("a client-sent identity without a valid token yielded alice's profile: %d %s", r.status, r.reason)
					}
					if tk.name != "bob's valid token" && r.profile != "" {
						t.Fatalf("profile %q", r.profile)
					}
					if r.status == 200 && r.profile == "" && r.reason != "anonymous" {
						t.Fatalf("allowed %s", r.reason)
					}
				})
			}
		})
	}
	// Control: alice's own valid token does yield her profile, so the rows
	// above cannot pass for want of a working sign-in.
	r := e.send(grpcMap, req{headers: []hdr{{"authorization", "Bearer " + idp.IDToken(t, "proxy", "alice@example.com", "sub-alice", "")}}})
	if r.status != 200 || r.profile != e.alice {
		t.Fatalf("control: %d %s %q", r.status, r.reason, r.profile)
	}
}
