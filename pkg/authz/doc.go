// Package authz is the decision core of extauthz: given one request's
// asserted identity, the browser's session cookie and the app's policy, it
// decides allow or deny and the header mutations that go with it.
//
// It imports no transport and no database: front ends (pkg/envoy,
// pkg/httpcheck) turn their wire format into an Input and render the
// returned Decision; stores (pkg/profile, pkg/session, pkg/token) satisfy the
// small interfaces declared here (ProfileSource, SessionStore,
// AccessTokenStore) and classify their failures into ErrNotFound and
// ErrUnavailable once, at their boundary.
//
// # The app
//
// A request is decided under the policy of the app the front end names
// (Envoy's context_extensions["app"]; the HTTP check's path, query or
// header). When it names none, the app whose Policy.Hosts match the
// request's host (exact names and "*.suffix" wildcards, case-insensitive,
// port removed) is used, else DefaultApp. A named app that is not
// configured is a 503 misconfigured. See AppFor.
//
// # The decision table
//
// Engine.Decide walks the rows of the decision table top to bottom; the first that
// matches wins, and every outcome carries a Reason:
//
//   - Before row 0 (logout): the path is the app's LogoutPath. Every session
//     of the person at the browser (the live binding's profile, else the
//     asserted identity's) is revoked in every app (Config.Revoker), this
//     app's native cookies and the service cookie are expired, and the
//     answer is a 302 to SignOutURL.
//   - Row 0 (bypass): the path lies under a bypass prefix on whole segments
//     however an upstream may read it (percent-encoded letters match; an
//     encoded "/", "\", a dot segment, ";" or a decoded "?"/"#", at any
//     layer of decoding, is never bypassed): allow, owned headers still
//     stripped, no session work.
//   - Rows 1–2 (access_token, access_token_invalid, credential_passthrough):
//     a programmatic credential is present. Validated ones allow with their
//     profile or deny 401; pass-through ones allow, except that an identity
//     the proxy also asserts still meets row 3, row 9 under
//     on_unknown_identity deny, and row 10. An allowed credential changes no
//     cookie and carries neither the service cookie nor a native cookie
//     upstream.
//   - Row 3 (identity_malformed): the asserted identity is not an email, too
//     long, has control characters, or two different values arrived: 400.
//     A bare user id with no default domain is a 503 misconfigured. With
//     IdentityJWT on, the identity is the App's IdentityVerifier's answer
//     for the token in its header: an unacceptable token is a 401
//     identity_invalid whose body says why; keys that cannot be fetched
//     are row 6; a plain identity header naming someone else is a 400; no
//     token with Require is no identity (rows 4–5). A token whose session
//     the issuer ended (back-channel logout) is logged_out once the
//     presented session is read: that session is deleted, the cookies are
//     expired and a page load goes to SignOutURL.
//   - Rows 4–5 (session_only, anonymous, identity_missing): no identity. A
//     live session still counts (its profile must pass row 10) or the policy
//     denies 401; with no live session the request is anonymous or 401, and a
//     dead cookie is expired.
//   - Rows 6–7 (lookup_unavailable, lookup_error): a store failed. Transient
//     failures answer 503 with Retry-After; others 500. Nothing is flushed and
//     no Set-Cookie leaves: a database blip never logs anybody out.
//   - Row 8: no profile and auto-register on: it is created (idempotently,
//     recording the app) and the decision continues.
//   - Row 9 (identity_unknown): no profile, or, for an app with
//     auto-register off, a profile another app auto-registered (no app's
//     setting changes whom another admits): flush, then anonymous or 401.
//   - Row 10 (profile_blocked, profile_inactive): deny 403 and flush any
//     presented session, the user's own included.
//   - Row 11 (session_match, session_renewed): the live session is for this
//     identity key and profile: allow with the profile id and no Set-Cookie,
//     except a renewal when due. A live session another app in the same
//     cookie scope made for this identity key and this app's profile id is
//     taken as this app's too (BindSession), once, flushing the app's own
//     native cookies the first time if present; no new token.
//   - Row 12 (rekey, identity_changed): anything else: the old row is deleted
//     and a new session issued in the same transaction; native cookies present
//     are flushed when the previous binding was absent or another identity.
//     Another app's row is deleted only when the person changed.
//
// Another app's live binding that this app has not taken, for the same
// person, is never flushed by rows 4–5, 9 or 10 of this app: only the app's
// own native cookies go.
//
// Flushing native cookies uses a deny 302 to the same URL for navigations
// and a 401 JSON for anything else (FlushRedirect), or rides on the allowed
// response (FlushInline). A front end that carries a limited number of
// Set-Cookie lines gets one hop per batch; every hop expires at least one
// cookie the browser still presents, so the sequence terminates. The loop
// guard (HopLedger) turns a flush that does not take (a cookie whose Domain
// or Path is misconfigured) into a 500 page naming the cookie, on proof
// only: the new session's Stale fingerprints, or MaxHops page-load hops
// answered with exactly the same cookies. Repeats of one identity change
// get the same hop and the same new session cookie.
package authz
