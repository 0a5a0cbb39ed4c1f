// Package envoy is extauthz's Envoy front end: it serves
// envoy.service.auth.v3.Authorization/Check over gRPC and does nothing but
// translate between the wire and pkg/authz.
//
// The contract:
//
//   - ToInput turns a CheckRequest into an authz.Input. The app comes from
//     attributes.context_extensions["app"] ("" = none: the engine picks the
//     app whose hosts match :authority, else the default app); method,
//     scheme, host and path (the raw :path, query included) from
//     attributes.request.http. Headers are read from both the headers map
//     (keys lower-cased) and header_map (raw_value preferred over value, one
//     entry per header line); a header sent twice is therefore either one
//     "a,b" value or two entries, and authz treats both as ambiguous for
//     identity headers. Every cookie value or entry is a separate input to
//     cookie.ParseLimit (pairs split on ";" only, RFC 6265: Envoy joins
//     cookie lines with "; "; a "," belongs to a value). Bytes are kept as
//     they arrive (invalid UTF-8 included; authz's normalisation rejects it).
//     Requests with more than Options.MaxHeaders entries or
//     Options.MaxHeaderBytes bytes of names and values, or more than
//     cookie.MaxCookies cookie pairs, are rejected with ErrTooManyHeaders,
//     ErrHeadersTooLarge or cookie.ErrTooManyCookies.
//     Every sub-message may be missing.
//
//   - FromDecision renders an authz.Decision as a CheckResponse. Allow: gRPC
//     status OK with an OkHttpResponse whose upstream headers are set with
//     OVERWRITE_IF_EXISTS_OR_ADD, whose headers_to_remove strips the owned
//     headers, and whose response_headers_to_add carries one set-cookie
//     entry per cookie (Options.SetCookieAction, APPEND_IF_EXISTS_OR_ADD by
//     default) followed by the decision's response headers (overwrite).
//     Deny: gRPC status UNAUTHENTICATED for a 401 and PERMISSION_DENIED for
//     every other status (Envoy only distinguishes OK from not OK; the code
//     is for humans reading logs), with a DeniedHttpResponse carrying the
//     HTTP status, the set-cookie lines, the response headers and the body.
//     Values always go in HeaderValue.value, never raw_value, and the
//     deprecated append field is never set. Header order is the decision's.
//     A decision carrying a header that Envoy would reject (CR, LF or NUL in
//     a name or value, an empty name) or a string that cannot be marshalled
//     (not UTF-8) is never sent: it becomes a fail-closed 500 "misconfigured"
//     denial.
//
//   - The wire path does the same without the generated messages:
//     DecodeInput reads the serialized CheckRequest's few fields the
//     translation needs (strings share the request's bytes) and
//     EncodeDecision writes the CheckResponse FromDecision would build.
//     Decoding Envoy's request into generated structs costs more than the
//     decision itself. The fuzz tests hold the two paths to the same meaning:
//     whatever proto.Unmarshal accepts, DecodeInput turns into the Input
//     ToInput makes, and EncodeDecision's bytes unmarshal to FromDecision's
//     message. RegisterWire serves Check that way on a server created with
//     WireCodec; serve runs it.
//
//   - Server implements authv3.AuthorizationServer over any Decider
//     (*authz.Engine is one). Denials, 503 included, are successful RPCs;
//     only with Options.UnavailableAsError does a lookup_unavailable decision
//     become a gRPC Unavailable error, which hands the outcome to Envoy's
//     failure_mode_allow. A request ToInput rejects is answered with a 400
//     request_invalid denial. Options.Observe, when set, sees every input,
//     decision and its duration (metrics and logs hook in there). CheckWire
//     is Check over serialized messages.
package envoy
