// Package oidctest is an OpenID issuer on loopback for tests: discovery,
// a key set, and the signing of ID tokens and back-channel logout tokens
// with its key, in process.
package oidctest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/extauthz/extauthz/pkg/oidc"
)

// Issuer serves /.well-known/openid-configuration and /jwks on
// 127.0.0.1 and signs tokens with an ES256 key.
type Issuer struct {
	URL string
	key *ecdsa.PrivateKey
	kid string
	srv *httptest.Server
	jti atomic.Int64
}

// New starts an issuer, stopped in t's cleanup.
func New(t testing.TB) *Issuer {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	i := &Issuer{key: key, kid: "test-key-1"}
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{
			"issuer": i.URL, "jwks_uri": i.URL + "/jwks", "backchannel_logout_supported": true,
		})
	})
	mux.HandleFunc("/jwks", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
			{Key: &key.PublicKey, KeyID: i.kid, Algorithm: string(jose.ES256), Use: "sig"},
		}})
	})
	i.srv = httptest.NewServer(mux)
	i.URL = i.srv.URL
	t.Cleanup(i.srv.Close)
	return i
}

// Sign signs claims with the issuer's key.
func (i *Issuer) Sign(t testing.TB, claims map[string]any) string {
	t.Helper()
	return Sign(t, jose.SigningKey{Algorithm: jose.ES256, Key: i.key}, i.kid, claims)
}

// Sign signs claims with key, naming kid.
func Sign(t testing.TB, key jose.SigningKey, kid string, claims map[string]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", kid)
	sg, err := jose.NewSigner(key, opts)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	obj, err := sg.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	s, err := obj.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// IDToken is an ID token for aud with email, sub and sid ("" leaves it
// out), issued now, valid for an hour.
func (i *Issuer) IDToken(t testing.TB, aud, email, sub, sid string) string {
	t.Helper()
	now := time.Now()
	c := map[string]any{"iss": i.URL, "aud": aud, "sub": sub, "email": email,
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	if sid != "" {
		c["sid"] = sid
	}
	return i.Sign(t, c)
}

// LogoutClaims are the claims of a back-channel logout token for aud and
// sub and/or sid, issued now, with a fresh jti.
func (i *Issuer) LogoutClaims(aud, sub, sid string) map[string]any {
	return LogoutClaims(i.URL, aud, sub, sid, fmt.Sprintf("jti-%d-%d", time.Now().UnixNano(), i.jti.Add(1)))
}

// LogoutClaims are the claims of a logout token of iss.
func LogoutClaims(iss, aud, sub, sid, jti string) map[string]any {
	c := map[string]any{"iss": iss, "aud": aud, "iat": time.Now().Unix(), "exp": time.Now().Add(2 * time.Minute).Unix(),
		"jti": jti, "events": map[string]any{oidc.BackchannelLogoutEvent: map[string]any{}}}
	if sub != "" {
		c["sub"] = sub
	}
	if sid != "" {
		c["sid"] = sid
	}
	return c
}

// PostLogout posts logoutToken to the back-channel endpoint at base (an
// http://host:port) and returns the status and body. Like an IdP it
// follows no redirect: behind a proxy that sends the post through the
// sign-in chain, the answer is that redirect, never the sign-in page's 200.
func PostLogout(t testing.TB, base, logoutToken string) (int, string) {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Post(base+oidc.BackchannelPath, "application/x-www-form-urlencoded",
		strings.NewReader(url.Values{"logout_token": {logoutToken}}.Encode()))
	if err != nil {
		t.Fatalf("posting the logout token: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the logout answer: %v", err)
	}
	return resp.StatusCode, string(body)
}
