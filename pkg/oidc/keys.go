package oidc

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"golang.org/x/sync/singleflight"
)

// maxDocument bounds a discovery document or key set read from the network.
const maxDocument = 1 << 20

// KeySetConfig wires a KeySet.
type KeySetConfig struct {
	// Issuer is the expected "iss"; with JWKSURL empty, the key set's URL
	// comes from Issuer + "/.well-known/openid-configuration" (jwks_uri),
	// whose "issuer" must equal Issuer.
	Issuer  string
	JWKSURL string
	// Client fetches documents; nil uses a client with a 5 s timeout.
	Client *http.Client
	// MinRefresh is the least time between two fetches caused by an
	// unknown key id (default 10 s): a flood of tokens naming made-up key
	// ids costs the issuer at most one fetch per MinRefresh.
	MinRefresh time.Duration
	// MaxAge is how long a fetched key set is used before it is fetched
	// again in the background (default 1 h); the old keys keep answering
	// until a fetch succeeds.
	MaxAge time.Duration
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

// KeySet caches the issuer's signing keys. It fetches them on first use,
// again when a token names a key id it does not know (at most once per
// MinRefresh, concurrent askers sharing one fetch), and in the background
// once they are older than MaxAge. A key set that cannot be fetched never
// discards the keys already held.
type KeySet struct {
	cfg    KeySetConfig
	flight singleflight.Group

	mu        sync.Mutex
	keys      []jose.JSONWebKey
	fetchedAt time.Time // last successful fetch
	triedAt   time.Time // last attempt
	lastErr   error     // of the last attempt; nil when it succeeded
	jwksURL   string    // configured or discovered
}

// NewKeySet returns a key set; nothing is fetched before the first Key.
func NewKeySet(cfg KeySetConfig) *KeySet {
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 5 * time.Second}
	}
	if cfg.MinRefresh <= 0 {
		cfg.MinRefresh = 10 * time.Second
	}
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &KeySet{cfg: cfg, jwksURL: cfg.JWKSURL}
}

// Key returns the public key that may verify a signature by alg with key
// id kid ("" when the token names none: then the only key of that type).
// It returns an error wrapping ErrUnavailable when the key set could not
// be fetched and no held key answers, or ErrInvalid when the issuer's
// current keys have no such key.
func (s *KeySet) Key(ctx context.Context, kid string, alg jose.SignatureAlgorithm) (any, error) {
	keys, fresh := s.held()
	if k, ok := pick(keys, kid, alg); ok {
		if !fresh {
			s.refreshInBackground()
		}
		return k, nil
	}
	if err := s.refresh(ctx); err != nil {
		return nil, err
	}
	keys, _ = s.held()
	if k, ok := pick(keys, kid, alg); ok {
		return k, nil
	}
	return nil, invalid("no key %q for %s in the issuer's key set", clip(kid), alg)
}

// Prefetch fetches the key set now, unless a fetch was tried within
// MinRefresh, so that the first tokens need not wait for it. It returns the
// outcome (errors wrap ErrUnavailable).
func (s *KeySet) Prefetch(ctx context.Context) error { return s.refresh(ctx) }

// held returns the keys and whether they are younger than MaxAge.
func (s *KeySet) held() ([]jose.JSONWebKey, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.keys, !s.fetchedAt.IsZero() && s.cfg.Now().Sub(s.fetchedAt) < s.cfg.MaxAge
}

// refresh fetches the key set unless one was tried within MinRefresh;
// then the outcome of that try stands: nil if it succeeded (the keys are
// what they are), its error otherwise.
func (s *KeySet) refresh(ctx context.Context) error {
	s.mu.Lock()
	recent := !s.triedAt.IsZero() && s.cfg.Now().Sub(s.triedAt) < s.cfg.MinRefresh
	last := s.lastErr
	s.mu.Unlock()
	if recent {
		return last
	}
	ch := s.flight.DoChan("fetch", func() (any, error) { return nil, s.fetch(context.WithoutCancel(ctx)) })
	select {
	case r := <-ch:
		return r.Err
	case <-ctx.Done():
		return fmt.Errorf("%w: waiting for the key set: %w", ErrUnavailable, ctx.Err())
	}
}

// refreshInBackground fetches aged keys without holding anyone up.
func (s *KeySet) refreshInBackground() {
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = s.refresh(ctx)
	}()
}

// fetch reads the key set (discovering its URL first when needed) and
// records the outcome.
func (s *KeySet) fetch(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	keys, err := s.fetchKeys(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.cfg.Now()
	s.triedAt, s.lastErr = now, err
	if err != nil {
		return err
	}
	s.keys, s.fetchedAt = keys, now
	return nil
}

func (s *KeySet) fetchKeys(ctx context.Context) ([]jose.JSONWebKey, error) {
	s.mu.Lock()
	u := s.jwksURL
	s.mu.Unlock()
	if u == "" {
		var err error
		if u, err = s.discover(ctx); err != nil {
			return nil, err
		}
		s.mu.Lock()
		s.jwksURL = u
		s.mu.Unlock()
	}
	var set jose.JSONWebKeySet
	if err := s.getJSON(ctx, u, &set); err != nil {
		return nil, fmt.Errorf("%w: key set: %w", ErrUnavailable, err)
	}
	keys := make([]jose.JSONWebKey, 0, len(set.Keys))
	for _, k := range set.Keys {
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		if pub := k.Public(); pub.Valid() {
			keys = append(keys, pub) // never hold private or symmetric keys
		}
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: key set at %s holds no public signing key", ErrUnavailable, u)
	}
	return keys, nil
}

// discover reads jwks_uri from the issuer's OpenID configuration.
func (s *KeySet) discover(ctx context.Context) (string, error) {
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	u := strings.TrimSuffix(s.cfg.Issuer, "/") + "/.well-known/openid-configuration"
	if err := s.getJSON(ctx, u, &doc); err != nil {
		return "", fmt.Errorf("%w: discovery: %w", ErrUnavailable, err)
	}
	if doc.Issuer != s.cfg.Issuer {
		return "", fmt.Errorf("%w: discovery at %s names issuer %q, not %q", ErrUnavailable, u, doc.Issuer, s.cfg.Issuer)
	}
	if doc.JWKSURI == "" {
		return "", fmt.Errorf("%w: discovery at %s names no jwks_uri", ErrUnavailable, u)
	}
	return doc.JWKSURI, nil
}

func (s *KeySet) getJSON(ctx context.Context, u string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := s.cfg.Client.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxDocument))
	if err != nil {
		return fmt.Errorf("GET %s: %w", u, err)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("GET %s: %w", u, err)
	}
	return nil
}

// pick returns the key with id kid that can verify alg. Without a kid, a
// key is used only when it is the one key of its type: a token that names
// no key never gets to try them all.
func pick(keys []jose.JSONWebKey, kid string, alg jose.SignatureAlgorithm) (any, bool) {
	var found []any
	for _, k := range keys {
		if (kid != "" && k.KeyID != kid) || (k.Algorithm != "" && k.Algorithm != string(alg)) {
			continue
		}
		if fits(k.Key, alg) {
			found = append(found, k.Key)
		}
	}
	if len(found) != 1 {
		return nil, false
	}
	return found[0], true
}

// fits reports whether a public key of this type verifies alg: an RSA key
// only RS256, an EC key only ES256 on P-256, an Ed25519 key only EdDSA.
func fits(key any, alg jose.SignatureAlgorithm) bool {
	switch k := key.(type) {
	case *rsa.PublicKey:
		return alg == jose.RS256
	case *ecdsa.PublicKey:
		return alg == jose.ES256 && k.Curve.Params().Name == "P-256"
	case ed25519.PublicKey:
		return alg == jose.EdDSA
	}
	return false
}
