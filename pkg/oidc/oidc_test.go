package oidc_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/extauthz/extauthz/pkg/oidc"
)

var t0 = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

// signer is one signing key with its public JWK.
type signer struct {
	kid string
	alg jose.SignatureAlgorithm
	key crypto.Signer
}

func newSigner(t testing.TB, kid string, alg jose.SignatureAlgorithm) signer {
	t.Helper()
	var k crypto.Signer
	var err error
	switch alg {
	case jose.RS256:
		k, err = rsa.GenerateKey(rand.Reader, 2048)
	case jose.ES256:
		k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case jose.EdDSA:
		_, k, err = ed25519.GenerateKey(rand.Reader)
	}
	if err != nil {
		t.Fatal(err)
	}
	return signer{kid: kid, alg: alg, key: k}
}

func (s signer) jwk() jose.JSONWebKey {
	return jose.JSONWebKey{Key: s.key.Public(), KeyID: s.kid, Algorithm: string(s.alg), Use: "sig"}
}

// sign signs claims; header extras (typ) are added as given.
func (s signer) sign(t testing.TB, claims map[string]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if s.kid != "" {
		opts = opts.WithHeader("kid", s.kid)
	}
	sg, err := jose.NewSigner(jose.SigningKey{Algorithm: s.alg, Key: s.key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	obj, err := sg.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, err := obj.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// idp is an issuer on loopback: discovery and a key set that can be
// swapped or taken down.
type idp struct {
	srv     *httptest.Server
	mu      sync.Mutex
	keys    []jose.JSONWebKey
	down    bool
	fetches atomic.Int64
}

func newIDP(t testing.TB, keys ...signer) *idp {
	t.Helper()
	i := &idp{}
	i.setKeys(keys...)
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]string{"issuer": i.srv.URL, "jwks_uri": i.srv.URL + "/jwks"})
	})
	mux.HandleFunc("/jwks", func(w http.ResponseWriter, r *http.Request) {
		i.fetches.Add(1)
		i.mu.Lock()
		defer i.mu.Unlock()
		if i.down {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: i.keys})
	})
	i.srv = httptest.NewServer(mux)
	t.Cleanup(i.srv.Close)
	return i
}

func (i *idp) setKeys(keys ...signer) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.keys = nil
	for _, k := range keys {
		i.keys = append(i.keys, k.jwk())
	}
}

func (i *idp) setDown(down bool) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.down = down
}

// clock is a settable clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func newVerifier(i *idp, clk *clock, jwksURL string) *oidc.Verifier {
	ks := oidc.NewKeySet(oidc.KeySetConfig{Issuer: i.srv.URL, JWKSURL: jwksURL, Client: i.srv.Client(), Now: clk.Now})
	return oidc.NewVerifier(oidc.VerifierConfig{
		Keys: ks, Issuer: i.srv.URL, Audiences: []string{"app-a", "app-b"}, Leeway: 30 * time.Second, Now: clk.Now,
	})
}

func idClaims(i *idp, mutate ...func(map[string]any)) map[string]any {
	c := map[string]any{
		"iss": i.srv.URL, "aud": "app-a", "sub": "sub-alice", "sid": "sid-1",
		"email": "alice@example.com", "iat": t0.Unix(), "exp": t0.Add(time.Hour).Unix(),
	}
	for _, m := range mutate {
		m(c)
	}
	return c
}

func b64(v any) string {
	b, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(b)
}

func TestVerify(t *testing.T) {
	rs := newSigner(t, "rs-1", jose.RS256)
	es := newSigner(t, "es-1", jose.ES256)
	ed := newSigner(t, "ed-1", jose.EdDSA)
	other := newSigner(t, "rs-1", jose.RS256) // same kid, another key
	i := newIDP(t, rs, es, ed)
	pubDER, _ := x509.MarshalPKIXPublicKey(rs.key.Public())
	hmacWithPublic := func() string {
		sg, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: pubDER}, (&jose.SignerOptions{}).WithHeader("kid", "rs-1"))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(idClaims(i))
		obj, _ := sg.Sign(b)
		s, _ := obj.CompactSerialize()
		return s
	}
	cases := []struct {
		name  string
		token func() string
		want  error // nil: valid
		why   string
	}{
		{"RS256", func() string { return rs.sign(t, idClaims(i)) }, nil, ""},
		{"ES256", func() string { return es.sign(t, idClaims(i)) }, nil, ""},
		{"EdDSA", func() string { return ed.sign(t, idClaims(i)) }, nil, ""},
		{"second audience", func() string {
			return rs.sign(t, idClaims(i, func(c map[string]any) { c["aud"] = []string{"x", "app-b"} }))
		}, nil, ""},
		{"within leeway after exp", func() string {
			return rs.sign(t, idClaims(i, func(c map[string]any) { c["exp"] = t0.Add(-20 * time.Second).Unix() }))
		}, nil, ""},
		{"bad signature", func() string { return other.sign(t, idClaims(i)) }, oidc.ErrInvalid, "signature does not verify"},
		{"tampered payload", func() string {
			parts := strings.Split(rs.sign(t, idClaims(i)), ".")
			parts[1] = b64(idClaims(i, func(c map[string]any) { c["email"] = "mallory@example.com" }))
			return strings.Join(parts, ".")
		}, oidc.ErrInvalid, "signature does not verify"},
		{"wrong issuer", func() string { return rs.sign(t, idClaims(i, func(c map[string]any) { c["iss"] = "https://evil" })) }, oidc.ErrInvalid, "issuer"},
		{"wrong audience", func() string { return rs.sign(t, idClaims(i, func(c map[string]any) { c["aud"] = "app-z" })) }, oidc.ErrInvalid, "audience"},
		{"expired", func() string {
			return rs.sign(t, idClaims(i, func(c map[string]any) { c["exp"] = t0.Add(-time.Minute).Unix() }))
		}, oidc.ErrInvalid, "expired"},
		{"no exp", func() string { return rs.sign(t, idClaims(i, func(c map[string]any) { delete(c, "exp") })) }, oidc.ErrInvalid, "no exp"},
		{"not yet valid", func() string {
			return rs.sign(t, idClaims(i, func(c map[string]any) { c["nbf"] = t0.Add(time.Minute).Unix() }))
		}, oidc.ErrInvalid, "not valid before"},
		{"alg none", func() string {
			return b64(map[string]string{"alg": "none", "kid": "rs-1"}) + "." + b64(idClaims(i)) + "."
		}, oidc.ErrInvalid, "accepted algorithm"},
		{"HMAC with the public key", hmacWithPublic, oidc.ErrInvalid, "accepted algorithm"},
		{"unknown kid", func() string { return newSigner(t, "rs-9", jose.RS256).sign(t, idClaims(i)) }, oidc.ErrInvalid, "no key"},
		{"garbage", func() string { return "not.a.jwt" }, oidc.ErrInvalid, "not a signed JWT"},
		{"logout token as identity", func() string {
			return rs.sign(t, idClaims(i, func(c map[string]any) { c["events"] = map[string]any{oidc.BackchannelLogoutEvent: map[string]any{}} }))
		}, oidc.ErrInvalid, "logout token"},
		{"email not a string", func() string { return rs.sign(t, idClaims(i, func(c map[string]any) { c["email"] = 7 })) }, oidc.ErrInvalid, "not a string"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			clk := &clock{now: t0}
			v := newVerifier(i, clk, "")
			claims, err := v.Verify(context.Background(), c.token())
			if c.want == nil {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if claims.Subject != "sub-alice" || claims.SID != "sid-1" || claims.Email != "alice@example.com" || claims.Issuer != i.srv.URL {
					t.Fatalf("claims %+v", claims)
				}
				return
			}
			if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.why) {
				t.Fatalf("Verify: %v, want %v with %q", err, c.want, c.why)
			}
		})
	}
}

func TestRotationRefreshesOnUnknownKid(t *testing.T) {
	old := newSigner(t, "k-1", jose.RS256)
	next := newSigner(t, "k-2", jose.RS256)
	i := newIDP(t, old)
	clk := &clock{now: t0}
	v := newVerifier(i, clk, i.srv.URL+"/jwks")
	ctx := context.Background()
	if _, err := v.Verify(ctx, old.sign(t, idClaims(i))); err != nil {
		t.Fatal(err)
	}
	// The issuer rotates: the new kid is fetched without a restart, once
	// MinRefresh since the last fetch has passed.
	i.setKeys(old, next)
	tok := next.sign(t, idClaims(i))
	if _, err := v.Verify(ctx, tok); !errors.Is(err, oidc.ErrInvalid) {
		t.Fatalf("within MinRefresh of the last fetch: %v, want invalid", err)
	}
	clk.add(11 * time.Second)
	if _, err := v.Verify(ctx, tok); err != nil {
		t.Fatalf("after rotation: %v", err)
	}
	// A flood of made-up kids costs at most one fetch per MinRefresh.
	before := i.fetches.Load()
	for n := range 50 {
		_, _ = v.Verify(ctx, newSignerFast(t, n).sign(t, idClaims(i)))
	}
	if got := i.fetches.Load() - before; got > 1 {
		t.Fatalf("%d fetches for 50 unknown kids, want at most 1", got)
	}
}

// newSignerFast is an Ed25519 signer with a made-up kid (cheap to make).
func newSignerFast(t testing.TB, n int) signer {
	return newSigner(t, "made-up-"+strings.Repeat("x", n%5)+string(rune('a'+n%26)), jose.EdDSA)
}

func TestKeysDown(t *testing.T) {
	k := newSigner(t, "k-1", jose.ES256)
	ctx := context.Background()
	t.Run("no cached keys", func(t *testing.T) {
		i := newIDP(t, k)
		i.setDown(true)
		v := newVerifier(i, &clock{now: t0}, "")
		_, err := v.Verify(ctx, k.sign(t, idClaims(i)))
		if !errors.Is(err, oidc.ErrUnavailable) {
			t.Fatalf("Verify: %v, want unavailable", err)
		}
	})
	t.Run("cached keys keep answering", func(t *testing.T) {
		i := newIDP(t, k)
		clk := &clock{now: t0}
		v := newVerifier(i, clk, "")
		if _, err := v.Verify(ctx, k.sign(t, idClaims(i, func(c map[string]any) { c["sid"] = "sid-1" }))); err != nil {
			t.Fatal(err)
		}
		i.setDown(true)
		clk.add(2 * time.Hour) // keys older than MaxAge: refreshed in the background, still used
		fresh := idClaims(i, func(c map[string]any) { c["iat"] = clk.Now().Unix(); c["exp"] = clk.Now().Add(time.Hour).Unix() })
		if _, err := v.Verify(ctx, k.sign(t, fresh)); err != nil {
			t.Fatalf("with cached keys while the key set is down: %v", err)
		}
		// A kid it does not hold, while it cannot ask: unavailable, not
		// invalid (it may be a rotation nobody could see).
		clk.add(time.Minute)
		other := newSigner(t, "k-2", jose.ES256)
		if _, err := v.Verify(ctx, other.sign(t, fresh)); !errors.Is(err, oidc.ErrUnavailable) {
			t.Fatalf("unknown kid while down: %v, want unavailable", err)
		}
	})
	t.Run("discovery names another issuer", func(t *testing.T) {
		i := newIDP(t, k)
		ks := oidc.NewKeySet(oidc.KeySetConfig{Issuer: i.srv.URL + "/other", Client: i.srv.Client()})
		v := oidc.NewVerifier(oidc.VerifierConfig{Keys: ks, Issuer: i.srv.URL + "/other", Audiences: []string{"app-a"}, Now: func() time.Time { return t0 }})
		if _, err := v.Verify(ctx, k.sign(t, idClaims(i))); !errors.Is(err, oidc.ErrUnavailable) {
			t.Fatalf("Verify: %v, want unavailable", err)
		}
	})
}

func logoutClaims(i *idp, mutate ...func(map[string]any)) map[string]any {
	c := map[string]any{
		"iss": i.srv.URL, "aud": "app-a", "sub": "sub-alice", "sid": "sid-1", "iat": t0.Unix(),
		"exp": t0.Add(2 * time.Minute).Unix(), "jti": "jti-1",
		"events": map[string]any{oidc.BackchannelLogoutEvent: map[string]any{}},
	}
	for _, m := range mutate {
		m(c)
	}
	return c
}

// TestVerifyLogout covers every rule of Back-Channel Logout 1.0 §2.6 but
// the jti's single use, which the store enforces (pkg/session).
func TestVerifyLogout(t *testing.T) {
	k := newSigner(t, "k-1", jose.RS256)
	forger := newSigner(t, "k-1", jose.RS256)
	i := newIDP(t, k)
	del := func(name string) func(map[string]any) { return func(c map[string]any) { delete(c, name) } }
	set := func(name string, v any) func(map[string]any) { return func(c map[string]any) { c[name] = v } }
	cases := []struct {
		name string
		tok  func() string
		why  string // "" valid
	}{
		{"valid", func() string { return k.sign(t, logoutClaims(i)) }, ""},
		{"sub only", func() string { return k.sign(t, logoutClaims(i, del("sid"))) }, ""},
		{"sid only", func() string { return k.sign(t, logoutClaims(i, del("sub"))) }, ""},
		{"no exp", func() string { return k.sign(t, logoutClaims(i, del("exp"))) }, ""},
		{"forged signature", func() string { return forger.sign(t, logoutClaims(i)) }, "signature does not verify"},
		{"alg none", func() string { return b64(map[string]string{"alg": "none"}) + "." + b64(logoutClaims(i)) + "." }, "accepted algorithm"},
		{"wrong issuer", func() string { return k.sign(t, logoutClaims(i, set("iss", "https://evil"))) }, "issuer"},
		{"wrong audience", func() string { return k.sign(t, logoutClaims(i, set("aud", "app-z"))) }, "audience"},
		{"no iat", func() string { return k.sign(t, logoutClaims(i, del("iat"))) }, "no iat"},
		{"iat too old", func() string { return k.sign(t, logoutClaims(i, set("iat", t0.Add(-time.Hour).Unix()), del("exp"))) }, "issued more than"},
		{"iat in the future", func() string { return k.sign(t, logoutClaims(i, set("iat", t0.Add(time.Hour).Unix()))) }, "future"},
		{"expired", func() string { return k.sign(t, logoutClaims(i, set("exp", t0.Add(-time.Minute).Unix()))) }, "expired"},
		{"neither sub nor sid", func() string { return k.sign(t, logoutClaims(i, del("sub"), del("sid"))) }, "neither sub nor sid"},
		{"no jti", func() string { return k.sign(t, logoutClaims(i, del("jti"))) }, "no jti"},
		{"nonce", func() string { return k.sign(t, logoutClaims(i, set("nonce", "n"))) }, "nonce"},
		{"no events", func() string { return k.sign(t, logoutClaims(i, del("events"))) }, "events"},
		{"events without the member", func() string {
			return k.sign(t, logoutClaims(i, set("events", map[string]any{"http://example.com/other": map[string]any{}})))
		}, "events"},
		{"events member not an object", func() string {
			return k.sign(t, logoutClaims(i, set("events", map[string]any{oidc.BackchannelLogoutEvent: "yes"})))
		}, "events"},
		{"an ID token", func() string { return k.sign(t, idClaims(i)) }, "no jti"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := newVerifier(i, &clock{now: t0}, "")
			lc, err := v.VerifyLogout(context.Background(), c.tok(), 0)
			if c.why == "" {
				if err != nil {
					t.Fatalf("VerifyLogout: %v", err)
				}
				if lc.JTI != "jti-1" || !lc.IssuedAt.Equal(t0) || !lc.UseBy.After(t0) {
					t.Fatalf("claims %+v", lc)
				}
				return
			}
			if !errors.Is(err, oidc.ErrInvalid) || !strings.Contains(err.Error(), c.why) {
				t.Fatalf("VerifyLogout: %v, want invalid with %q", err, c.why)
			}
		})
	}
}

// BenchmarkVerify compares a verification remembered by token hash with
// a full signature check, measured in the same run.
func BenchmarkVerify(b *testing.B) {
	k := newSigner(b, "k-1", jose.RS256)
	i := newIDP(b, k)
	tok := k.sign(b, idClaims(i))
	for _, size := range []int{10_000, -1} {
		name := "remembered"
		if size < 0 {
			name = "signature"
		}
		b.Run(name, func(b *testing.B) {
			clk := &clock{now: t0}
			ks := oidc.NewKeySet(oidc.KeySetConfig{Issuer: i.srv.URL, Client: i.srv.Client(), Now: clk.Now})
			v := oidc.NewVerifier(oidc.VerifierConfig{Keys: ks, Issuer: i.srv.URL, Audiences: []string{"app-a"}, CacheSize: size, Now: clk.Now})
			ctx := context.Background()
			for b.Loop() {
				if _, err := v.Verify(ctx, tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// FuzzVerify: whatever the bytes, Verify and VerifyLogout never panic and
// every failure is ErrInvalid (the issuer's keys are up); a success is the
// issuer's.
func FuzzVerify(f *testing.F) {
	k := newSigner(f, "k-1", jose.ES256)
	i := newIDP(f, k)
	f.Add(k.sign(f, idClaims(i)))
	f.Add(k.sign(f, logoutClaims(i)))
	f.Add(b64(map[string]string{"alg": "none"}) + "." + b64(idClaims(i)) + ".")
	f.Add("a.b.c")
	f.Add("")
	clk := &clock{now: t0}
	v := newVerifier(i, clk, "")
	f.Fuzz(func(t *testing.T, raw string) {
		for _, verify := range []func() (string, error){
			func() (string, error) { c, err := v.Verify(context.Background(), raw); return c.Issuer, err },
			func() (string, error) { c, err := v.VerifyLogout(context.Background(), raw, 0); return c.Issuer, err },
		} {
			iss, err := verify()
			if err != nil && !errors.Is(err, oidc.ErrInvalid) {
				t.Fatalf("error %v is not ErrInvalid", err)
			}
			if err == nil && iss != i.srv.URL {
				t.Fatalf("accepted a token of issuer %q", iss)
			}
		}
	})
}
