package authz

// Reason is the stable, closed set of codes that explain a decision. They are
// used as metric label values, log fields and the x-extauthz-reason header,
// so adding one is an API change.
type Reason string

// The reasons, in decision-table order (see doc.go).
const (
	ReasonBypass             Reason = "bypass"
	ReasonAccessToken        Reason = "access_token"
	ReasonAccessTokenInvalid Reason = "access_token_invalid"
	ReasonPassThrough        Reason = "credential_passthrough"
	ReasonIdentityMalformed  Reason = "identity_malformed"
	ReasonSessionOnly        Reason = "session_only"
	ReasonIdentityMissing    Reason = "identity_missing"
	ReasonAnonymous          Reason = "anonymous"
	ReasonLookupUnavailable  Reason = "lookup_unavailable"
	ReasonLookupError        Reason = "lookup_error"
	ReasonIdentityUnknown    Reason = "identity_unknown"
	ReasonProfileBlocked     Reason = "profile_blocked"
	ReasonProfileInactive    Reason = "profile_inactive"
	ReasonSessionMatch       Reason = "session_match"
	ReasonSessionRenewed     Reason = "session_renewed"
	ReasonRekey              Reason = "rekey"
	ReasonIdentityChanged    Reason = "identity_changed"
	ReasonFlushFailed        Reason = "flush_failed"
	ReasonMisconfigured      Reason = "misconfigured"
	ReasonRequestInvalid     Reason = "request_invalid"
	// ReasonRegistrationLimited: row 8 refused by the replica's
	// registration rate (auto_register_rate): 429 with Retry-After.
	ReasonRegistrationLimited Reason = "registration_limited"
	// ReasonIdentityInvalid: row 3 with identity_jwt, the token presented
	// is not acceptable (401, the body says why).
	ReasonIdentityInvalid Reason = "identity_invalid"
	// ReasonLoggedOut: the identity token's session was ended by the
	// issuer (back-channel logout); sent to the proxy's sign-out.
	ReasonLoggedOut Reason = "logged_out"
	// ReasonLogout: the app's logout_path; every session of the person
	// revoked.
	ReasonLogout Reason = "logout"
)

// Reasons lists every reason, for metric pre-registration and tests.
var Reasons = []Reason{
	ReasonBypass, ReasonAccessToken, ReasonAccessTokenInvalid, ReasonPassThrough,
	ReasonIdentityMalformed, ReasonIdentityInvalid, ReasonLoggedOut, ReasonLogout, ReasonSessionOnly, ReasonIdentityMissing, ReasonAnonymous,
	ReasonLookupUnavailable, ReasonLookupError, ReasonIdentityUnknown,
	ReasonProfileBlocked, ReasonProfileInactive, ReasonSessionMatch, ReasonSessionRenewed,
	ReasonRekey, ReasonIdentityChanged, ReasonFlushFailed, ReasonMisconfigured,
	ReasonRequestInvalid, ReasonRegistrationLimited,
}
