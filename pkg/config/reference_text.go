package config

// yamlDocs describes each YAML-only key (yamlOnlyKeys); the reference test
// fails when a key has none.
var yamlDocs = map[string]string{
	"apps": "The protected upstreams by name. A request names its app with Envoy's `context_extensions: {app: <name>}` " +
		"or the HTTP check's path suffix (`/check/<name>`, `/nginx/check/<name>`), `?app=` or `X-Extauthz-App`; " +
		"a request that names no app gets the app whose `hosts` match, else `default`, which always exists. A named app that is not configured is answered `503 misconfigured`.",

	"apps.<name>.hosts": "Host names, IP addresses and `*.suffix` wildcards that select this app when the request names none " +
		"(`:authority` for Envoy; the host header the HTTP check endpoint trusts). Compared case-insensitively without port and trailing dot; " +
		"`*.example.com` matches `a.example.com` and `a.b.example.com`, not `example.com`. Never inherited.",

	"apps.<name>.native_cookies[]":        "The app's own session cookies, flushed on an identity change exactly as the app sets them.",
	"apps.<name>.native_cookies[].name":   "Cookie name (required).",
	"apps.<name>.native_cookies[].domain": "Domain attribute the app sets; empty: host-only.",
	"apps.<name>.native_cookies[].path":   "Path attribute; empty means `/`.",
	"apps.<name>.native_cookies[].secure": "Whether the app sets it Secure (the expiring Set-Cookie must match).",

	"apps.<name>.bypass": "Normalised path prefixes, matched on whole segments, that skip session work (row 0). Each starts with `/` and is not `/`.",

	"apps.<name>.credentials[]":        "Programmatic credentials the app accepts (row 1–2).",
	"apps.<name>.credentials[].header": "Request header carrying the credential (required).",
	"apps.<name>.credentials[].scheme": "Auth scheme before the value, e.g. `Bearer` or `Token`; empty: the whole header value.",
	"apps.<name>.credentials[].mode":   "`validate` (an extauthz access token, checked against the store) or `pass_through` (the app checks it itself).",
	"apps.<name>.credentials[].prefix": "Only values starting with this are credentials (e.g. `ol_api_`); other values are ignored.",

	"apps.<name>.profile_source":                "Where the app's profiles come from; default: extauthz's own table (or the in-memory store).",
	"apps.<name>.profile_source.kind":           "`builtin` (default) or `sql` (an operator-supplied query against the app's own database).",
	"apps.<name>.profile_source.database_url":   "The app's database (sql only). A secret: prefer `EXTAUTHZ_CONFIG` pointing at a file mounted from a Secret, or a pgpass file.",
	"apps.<name>.profile_source.query":          "Returns `(id text, is_active bool, is_blocked bool)` for the normalised email `$1`; no row means no profile. Always parameterised, exactly `$1`.",
	"apps.<name>.profile_source.register_query": "Creates a profile for email `$1` (and display name `$2`) and returns the same three columns; required with `auto_register`.",
	"apps.<name>.profile_source.max_conns":      "Pool size of the app's database (default 4).",
	"apps.<name>.profile_source.timeout":        "Bound of one query; 0 inherits `lookup_timeout`.",

	"seed_profiles[]":         "Profiles the in-memory store starts with (only when `database_url` is empty).",
	"seed_profiles[].email":   "A valid email, unique.",
	"seed_profiles[].name":    "Display name.",
	"seed_profiles[].active":  "Default true when omitted.",
	"seed_profiles[].blocked": "A blocked profile is denied (row 10).",
}

const referenceTracing = `## Tracing (environment only)

Tracing is not a configuration key: the standard OpenTelemetry variables
configure it, and it is off unless ` + "`OTEL_TRACES_EXPORTER=otlp`" + `, or that variable
is unset and ` + "`OTEL_EXPORTER_OTLP_ENDPOINT`" + ` or ` + "`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`" + ` is
set. ` + "`OTEL_SDK_DISABLED=true`" + ` and ` + "`OTEL_TRACES_EXPORTER=none`" + ` keep it off.

| variable | default | meaning |
|---|---|---|
| ` + "`OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT`" + ` | none | the collector; setting it turns tracing on |
| ` + "`OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL`" + ` | ` + "`http/protobuf`" + ` | or ` + "`grpc`" + ` |
| ` + "`OTEL_TRACES_SAMPLER`" + `, ` + "`OTEL_TRACES_SAMPLER_ARG`" + ` | ` + "`parentbased_always_on`" + ` | the standard samplers |
| ` + "`OTEL_SERVICE_NAME`" + ` | ` + "`extauthz`" + ` | resource service name |

A value that cannot be honoured stops ` + "`serve`" + ` naming the variable. Spans:
` + "`extauthz.Check`" + ` per check (attributes ` + "`extauthz.app`, `extauthz.reason`, `extauthz.row`, `extauthz.status`, `extauthz.allow`, `extauthz.frontend`" + `),
a child per store trip (README, "Tracing").

`

const referenceJWT = `## Verified identity (identity_jwt) and logout

` + "`identity_jwt`" + ` verifies a signed token (RS256, ES256 or EdDSA; ` + "`none`" + ` and HMAC
refused) against the issuer's key set (` + "`jwks_url`" + `, or OpenID discovery from the
issuer): an invalid or expired token is a ` + "`401 identity_invalid`" + ` whose body
says why; a key set that cannot be fetched with no held key answering is a
` + "`503`" + ` (row 6, nothing flushed); a plain identity header naming someone else
than the token is a ` + "`400`" + ` (row 3). Each key of ` + "`identity_jwt`" + ` is inherited on
its own, like ` + "`cookie.*`" + `. With any app on ` + "`identity_jwt`" + `, the HTTP check listener
(` + "`check_addr`" + `) also serves ` + "`POST /oidc/backchannel-logout`" + ` for the issuers
configured (and ` + "`/oidc/backchannel-logout/<app>`" + ` for one app's issuer and audiences); a request still carrying a logged-out session's token is sent
to ` + "`sign_out_url`" + ` (with ` + "`rd=`" + ` the URL). ` + "`logout_path`" + ` is a path of the app
that ends all of the person's sessions in every app ("log out everywhere").

`

const referenceRules = `## Rules validation enforces

- Addresses are ` + "`host:port`" + ` and differ (` + "`check_addr`" + ` too, when set).
- ` + "`http_check.*.uri_header`" + ` is set and every ` + "`http_check`" + ` header is a valid name.
- ` + "`http_server`" + ` timeouts are positive, ` + "`read_header_timeout`" + ` ≤ ` + "`read_timeout`" + `,
  ` + "`max_header_bytes`" + ` ≥ 8192, ` + "`max_conns`" + ` ≥ 1; ` + "`grpc_server.max_recv_msg_size`" + ` ≥ 16384,
  ` + "`max_concurrent_streams`" + ` ≥ 1, ` + "`keepalive_min_time`" + ` positive.
- ` + "`lookup_timeout`" + ` < ` + "`envoy_timeout`" + `; durations positive; ` + "`renew_after`" + ` < ` + "`session_max_age`" + `;
  ` + "`retry_after`" + ` ≥ 1s; ` + "`cache_memory`" + ` is 0 or at least 1MiB; ` + "`cache_size`" + ` (deprecated; when
  set) ≥ 0; 0 ≤ ` + "`negative_cache_ttl`" + ` ≤ ` + "`cache_ttl`" + `.
- ` + "`admin_addr`" + ` needs an ` + "`admin_token`" + ` of at least 16 characters without whitespace;
  ` + "`log.email_hash_key`" + `, when set, has at least 16 characters; ` + "`log.decision_sample`" + ` is in [0, 1].
- Enums as listed. Header names are valid tokens (any case; they are compared
  lower-cased) and ` + "`profile_header`" + ` is none of the identity headers.
- Cookie names are valid tokens; a ` + "`__Host-`" + ` cookie is secure, has path ` + "`/`" + ` and no
  domain; a ` + "`__Secure-`" + ` cookie is secure; ` + "`same_site: None`" + ` needs ` + "`secure`" + `.
- Native cookies are distinct by (name, domain, path) and are not the service cookie.
- Bypass prefixes start with ` + "`/`" + `, are already normalised and are not ` + "`/`" + `.
- Credentials have a header and a valid mode and are distinct.
- ` + "`identity_jwt.issuer`" + ` and ` + "`jwks_url`" + ` are absolute http(s) URLs (the issuer without
  query or fragment), audiences are named and non-empty, ` + "`identity_jwt.header`" + `
  is a valid name other than ` + "`identity_header`" + ` and ` + "`profile_header`" + `, ` + "`leeway`" + ` is
  within [0, 5m], ` + "`require`" + ` needs an issuer; no credential of an app on
  ` + "`identity_jwt`" + ` reads its header (for ` + "`authorization`" + `: with the Bearer scheme or none).
- Hosts are names, IP addresses or ` + "`*.domain`" + ` wildcards without a port, none listed
  twice in an app, and no host of one app overlaps a host of another (the same
  name, a name another app's wildcard covers, or nested wildcards), so at most
  one app matches any host.
- An ` + "`sql`" + ` profile source has a ` + "`database_url`" + ` and a query using exactly ` + "`$1`" + `, a
  ` + "`register_query`" + ` using ` + "`$1`" + ` (and optionally ` + "`$2`" + `), and needs a ` + "`register_query`" + ` if
  ` + "`auto_register`" + ` is on.
- ` + "`seed_profiles[i].email`" + ` is a valid email and unique.

An error in a top-level default is reported once; an app is named only for
the keys it sets (or for the keys a cross-key rule ties to one it sets).
`
