// Package oidc verifies signed identity assertions and OpenID Connect
// Back-Channel Logout tokens against an issuer's published keys.
//
// A KeySet holds the issuer's public signing keys (from jwks_url, or from
// the issuer's OpenID discovery document when that is empty). It fetches
// them on first use, again when a token names a key id it does not hold —
// at most once per MinRefresh, concurrent askers sharing the fetch — and in
// the background once they are older than MaxAge, so that key rotation
// needs no restart. A fetch that fails never drops the keys held: tokens
// signed with them keep verifying while the issuer is unreachable, and
// only a token no held key answers is ErrUnavailable.
//
// A Verifier checks one issuer's tokens for a set of audiences: the
// signature with an accepted algorithm (RS256, ES256, EdDSA; "none" and
// every HMAC algorithm are refused before any key is looked at, so a
// public key can never act as an HMAC secret), an RSA key only for RS256,
// an EC P-256 key only for ES256, an Ed25519 key only for EdDSA; then iss,
// aud, exp (required), nbf and iat with a leeway. Verified tokens are
// remembered by their SHA-256 until they expire, so the steady state costs
// a hash, not a signature check. VerifyLogout applies the rules of
// Back-Channel Logout 1.0 §2.6 to a logout token; the single use of its
// jti is the store's to enforce, across replicas.
//
// Every failure wraps ErrInvalid (the message says why and never holds the
// token) or ErrUnavailable.
//
// The JOSE library is github.com/go-jose/go-jose/v4, the implementation
// github.com/coreos/go-oidc/v3 itself verifies with. go-oidc's
// IDTokenVerifier was not used on top of it because it folds key-set
// fetch failures into the same plain error as a bad signature (this
// service must answer 503 for the one and 401 for the other), takes a
// single client id where an app may accept several audiences, and fixes
// its clock-skew allowance; lestrrat-go/jwx/v3 would bring its own HTTP
// cache and a large dependency tree for the same few checks. go-jose is
// already in the module graph, maintained, and small enough to audit.
//
// Ledger is each replica's memory of back-channel logouts: sessions (sid)
// and subjects (sub, with the logout's time) whose tokens no longer count.
package oidc
