package config

import (
	"errors"
	"flag"
	"strconv"
	"strings"
	"time"

	"github.com/extauthz/extauthz/pkg/authz"
)

var (
	errNotBool  = errors.New("must be true or false (or 1/0, t/f)")
	errNotInt   = errors.New("must be a whole number")
	errNotFloat = errors.New("must be a number")
)

// binding ties one scalar key to its flag and environment variable. The
// flag name is the key in kebab case ("log.decision_sample" →
// --log-decision-sample), the variable EXTAUTHZ_ and the key in upper snake
// case (EXTAUTHZ_LOG_DECISION_SAMPLE).
type binding struct {
	key    string
	usage  string
	secret bool // never echo the value
	value  flag.Value
}

func (b binding) flag() string {
	return strings.NewReplacer(".", "-", "_", "-").Replace(b.key)
}

func (b binding) env() string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(b.key, ".", "_"))
}

// bindings returns every scalar key of c, bound to its field.
func bindings(c *Config) []binding {
	bs := listenerBindings(c)
	bs = append(bs, serviceBindings(c)...)
	return append(bs, settingsBindings(&c.Defaults)...)
}

// listenerBindings binds the listeners' keys: addresses, HTTP check origins,
// HTTP and gRPC server limits.
func listenerBindings(c *Config) []binding {
	return []binding{
		{key: "grpc_addr", usage: "gRPC ext_authz listen `address` (host:port)", value: &stringValue[string]{&c.GRPCAddr}},
		{key: "http_addr", usage: "ops HTTP `address` for /healthz, /readyz, /metrics (and pprof)", value: &stringValue[string]{&c.HTTPAddr}},
		{key: "check_addr", usage: "HTTP check `address` (host:port) for nginx, Traefik and Caddy; empty turns it off", value: &stringValue[string]{&c.CheckAddr}},
		{key: "http_check.nginx.method_header", usage: "`header` the nginx endpoints read the original method from (empty: the check request's)", value: &stringValue[string]{&c.HTTPCheck.Nginx.MethodHeader}},
		{key: "http_check.nginx.uri_header", usage: "`header` the nginx endpoints read the original path and query from", value: &stringValue[string]{&c.HTTPCheck.Nginx.URIHeader}},
		{key: "http_check.nginx.host_header", usage: "`header` the nginx endpoints read the original host from (empty: Host)", value: &stringValue[string]{&c.HTTPCheck.Nginx.HostHeader}},
		{key: "http_check.nginx.proto_header", usage: "`header` the nginx endpoints read the original scheme from (empty: the check connection's)", value: &stringValue[string]{&c.HTTPCheck.Nginx.ProtoHeader}},
		{key: "http_check.forward.method_header", usage: "`header` /check reads the original method from (empty: the check request's)", value: &stringValue[string]{&c.HTTPCheck.Forward.MethodHeader}},
		{key: "http_check.forward.uri_header", usage: "`header` /check reads the original path and query from", value: &stringValue[string]{&c.HTTPCheck.Forward.URIHeader}},
		{key: "http_check.forward.host_header", usage: "`header` /check reads the original host from (empty: Host)", value: &stringValue[string]{&c.HTTPCheck.Forward.HostHeader}},
		{key: "http_check.forward.proto_header", usage: "`header` /check reads the original scheme from (empty: the check connection's)", value: &stringValue[string]{&c.HTTPCheck.Forward.ProtoHeader}},
		{key: "http_server.read_header_timeout", usage: "time allowed to read a request's headers (check and ops listeners)", value: &durationValue{&c.HTTPServer.ReadHeaderTimeout}},
		{key: "http_server.read_timeout", usage: "time allowed to read a whole request (check and ops listeners)", value: &durationValue{&c.HTTPServer.ReadTimeout}},
		{key: "http_server.idle_timeout", usage: "keep-alive connections idle this long are closed (check and ops listeners)", value: &durationValue{&c.HTTPServer.IdleTimeout}},
		{key: "http_server.max_header_bytes", usage: "largest request line and headers in `bytes` (431 above)", value: &intValue{&c.HTTPServer.MaxHeaderBytes}},
		{key: "http_server.max_conns", usage: "open connections per HTTP listener", value: &intValue{&c.HTTPServer.MaxConns}},
		{key: "grpc_server.max_recv_msg_size", usage: "largest CheckRequest in `bytes` (ResourceExhausted above; mind Envoy's with_request_body)", value: &intValue{&c.GRPCServer.MaxRecvMsgSize}},
		{key: "grpc_server.max_concurrent_streams", usage: "concurrent gRPC calls per connection", value: &intValue{&c.GRPCServer.MaxConcurrentStreams}},
		{key: "grpc_server.keepalive_min_time", usage: "shortest keepalive ping interval a gRPC client may use", value: &durationValue{&c.GRPCServer.KeepaliveMinTime}},
		{key: "grpc_server.max_connection_age", usage: "close gRPC connections this old so clients reconnect and spread over replicas (0: never)", value: &durationValue{&c.GRPCServer.MaxConnectionAge}},
		{key: "grpc_server.max_connection_age_grace", usage: "how long calls in flight on a connection closed for its age may take", value: &durationValue{&c.GRPCServer.MaxConnectionAgeGrace}},
		{key: "grpc_server.keepalive_permit_without_stream", usage: "allow keepalive pings on gRPC connections without calls", value: &boolValue{&c.GRPCServer.KeepalivePermitWithoutStream}},
		{key: "pprof", usage: "serve Go's profiler at /debug/pprof/ on http_addr", value: &boolValue{&c.Pprof}},
	}
}

// serviceBindings binds the service's own keys: database, timeouts,
// registration limits, cache, admin API and logging.
func serviceBindings(c *Config) []binding {
	return []binding{
		{key: "database_url", usage: "PostgreSQL `url`; empty runs the in-memory store (nothing persists)", secret: true, value: &stringValue[string]{&c.DatabaseURL}},
		{key: "database_max_conns", usage: "database pool size", value: &intValue{&c.DatabaseMaxConns}},
		{key: "database_min_conns", usage: "database connections opened and verified before ready, and kept open", value: &intValue{&c.DatabaseMinConns}},
		{key: "lookup_timeout", usage: "store deadline per decision; must be below envoy_timeout", value: &durationValue{&c.LookupTimeout}},
		{key: "envoy_timeout", usage: "the front end's ext_authz timeout (validation only)", value: &durationValue{&c.EnvoyTimeout}},
		{key: "unavailable_as_error", usage: "answer a store outage with gRPC Unavailable instead of a deny-503", value: &boolValue{&c.UnavailableAsError}},
		{key: "migrate", usage: "apply database migrations before serving", value: &boolValue{&c.Migrate}},
		{key: "shutdown_timeout", usage: "how long to drain in-flight checks on SIGTERM", value: &durationValue{&c.ShutdownTimeout}},
		{key: "grpc_codec", usage: "how Check reads and writes messages: wire (fast path) or generated", value: &stringValue[string]{&c.GRPCCodec}},
		{key: "auto_register_rate", usage: "registrations per second one replica asks of a profile source (0: no bound); over it 429", value: &floatValue{&c.AutoRegisterRate}},
		{key: "auto_register_burst", usage: "registrations one replica may ask at once above auto_register_rate", value: &intValue{&c.AutoRegisterBurst}},
		{key: "auto_register_concurrency", usage: "registrations one replica has in flight at once (0: no bound); others wait within their deadline, then 429", value: &intValue{&c.AutoRegisterConcurrency}},
		{key: "max_sessions_per_profile", usage: "live sessions one profile keeps per app; one more revokes the least recently renewed (0: no cap)", value: &intValue{&c.MaxSessionsPerProfile}},
		{key: "shutdown_delay", usage: "how long to keep answering checks after SIGTERM while NOT_SERVING, before draining", value: &durationValue{&c.ShutdownDelay}},
		{key: "cache_memory", usage: "memory for the in-process caches (profiles, sessions, tokens) together, e.g. 256MiB; 0 turns caching off", value: &byteSizeValue{&c.CacheMemory}},
		{key: "cache_size", usage: "deprecated (use cache_memory): when set, also caps each cache's entries; 0 turns caching off", value: &unsetIntValue{intValue{&c.CacheSize}}},
		{key: "cache_ttl", usage: "longest a cached answer is used (the fallback when the change feed is down)", value: &durationValue{&c.CacheTTL}},
		{key: "negative_cache_ttl", usage: "longest a cached \"not found\" is used; 0 turns it off", value: &durationValue{&c.NegativeCacheTTL}},
		{key: "change_feed", usage: "LISTEN for invalidations from other replicas (database only)", value: &boolValue{&c.ChangeFeed}},
		{key: "admin_addr", usage: "admin gRPC API listen `address` (host:port); empty turns it off", value: &stringValue[string]{&c.AdminAddr}},
		{key: "admin_token", usage: "bearer `token` required by every admin call (at least 16 characters)", secret: true, value: &stringValue[string]{&c.AdminToken}},
		{key: "log.level", usage: "log `level`: debug, info, warn or error", value: &stringValue[string]{&c.Log.Level}},
		{key: "log.format", usage: "log `format`: json or text", value: &stringValue[string]{&c.Log.Format}},
		{key: "log.log_emails", usage: "log email addresses in clear (otherwise hashed)", value: &boolValue{&c.Log.LogEmails}},
		{key: "log.email_hash_key", usage: "`key` of the logged email_hash, the same on every replica (empty: random per process)", secret: true, value: &stringValue[string]{&c.Log.EmailHashKey}},
		{key: "log.decision_sample", usage: "`fraction` (0..1) of allow decisions logged; allows are logged at debug, so only with log.level debug (denials always, at info)", value: &floatValue{&c.Log.DecisionSample}},
	}
}

// settingsBindings binds the top-level app settings d, the defaults every
// app starts from.
func settingsBindings(d *AppSettings) []binding {
	return []binding{
		{key: "identity_header", usage: "request `header` with the asserted email", value: &stringValue[string]{&d.IdentityHeader}},
		{key: "user_header", usage: "request `header` with the asserted stable user id", value: &stringValue[string]{&d.UserHeader}},
		{key: "name_header", usage: "request `header` with the asserted display name", value: &stringValue[string]{&d.NameHeader}},
		{key: "identity_key", usage: "identity compared across requests: email or user", value: &stringValue[authz.IdentityKeyKind]{&d.IdentityKey}},
		{key: "default_email_domain", usage: "`domain` completing a bare user id into an email", value: &stringValue[string]{&d.DefaultEmailDomain}},
		{key: "auto_register", usage: "create a profile for an unknown identity", value: &boolValue{&d.AutoRegister}},
		{key: "on_missing_identity", usage: "no asserted identity: session or deny", value: &stringValue[authz.MissingIdentity]{&d.OnMissingIdentity}},
		{key: "on_unknown_identity", usage: "identity without a profile: anonymous or deny", value: &stringValue[authz.UnknownIdentity]{&d.OnUnknownIdentity}},
		{key: "profile_header", usage: "upstream `header` carrying the profile id", value: &stringValue[string]{&d.ProfileHeader}},
		{key: "reason_header", usage: "response `header` with the reason code; empty turns it off", value: &stringValue[string]{&d.ReasonHeader}},
		{key: "owned_headers", usage: "comma-separated `headers` always stripped from upstream requests", value: &listValue{&d.OwnedHeaders}},
		{key: "cookie.name", usage: "session cookie `name`", value: &stringValue[string]{&d.Cookie.Name}},
		{key: "cookie.domain", usage: "session cookie `domain` (empty: host-only)", value: &stringValue[string]{&d.Cookie.Domain}},
		{key: "cookie.path", usage: "session cookie `path`", value: &stringValue[string]{&d.Cookie.Path}},
		{key: "cookie.secure", usage: "session cookie Secure attribute", value: &boolValue{&d.Cookie.Secure}},
		{key: "cookie.same_site", usage: "session cookie SameSite: Lax, Strict or None", value: &stringValue[string]{&d.Cookie.SameSite}},
		{key: "session_max_age", usage: "session lifetime", value: &durationValue{&d.SessionMaxAge}},
		{key: "renew_after", usage: "renew a session older than this", value: &durationValue{&d.RenewAfter}},
		{key: "flush_mode", usage: "how an identity change reaches the browser: redirect or inline", value: &stringValue[authz.FlushMode]{&d.FlushMode}},
		{key: "max_set_cookies", usage: "Set-Cookie lines per response (0: no limit)", value: &intValue{&d.MaxSetCookies}},
		{key: "cookies_via_redirect", usage: "deliver session cookies on redirects (front ends that drop an allowed check's Set-Cookie, e.g. Caddy)", value: &boolValue{&d.CookiesViaRedirect}},
		{key: "loop_guard_window", usage: "how long repeats of one identity change get the same hop and session cookie", value: &durationValue{&d.LoopGuardWindow}},
		{key: "retry_after", usage: "Retry-After sent with 503", value: &durationValue{&d.RetryAfter}},
		{key: "identity_jwt.header", usage: "request `header` with the identity token (authorization: Bearer; any other: the raw token)", value: &stringValue[string]{&d.IdentityJWT.Header}},
		{key: "identity_jwt.issuer", usage: "expected token issuer `url`; empty turns identity_jwt off", value: &stringValue[string]{&d.IdentityJWT.Issuer}},
		{key: "identity_jwt.audiences", usage: "comma-separated `audiences` a token must name one of (the proxy's client id)", value: &listValue{&d.IdentityJWT.Audiences}},
		{key: "identity_jwt.jwks_url", usage: "the issuer's key set `url` (empty: OpenID discovery from the issuer)", value: &stringValue[string]{&d.IdentityJWT.JWKSURL}},
		{key: "identity_jwt.email_claim", usage: "token `claim` holding the email", value: &stringValue[string]{&d.IdentityJWT.EmailClaim}},
		{key: "identity_jwt.require", usage: "without a valid token a request has no identity, whatever the identity header says", value: &boolValue{&d.IdentityJWT.Require}},
		{key: "identity_jwt.leeway", usage: "clock skew allowed on a token's exp, nbf and iat", value: &durationValue{&d.IdentityJWT.Leeway}},
		{key: "sign_out_url", usage: "the proxy's sign-out `url` (e.g. /oauth2/sign_out) for logged-out tokens and logout_path", value: &stringValue[string]{&d.SignOutURL}},
		{key: "logout_path", usage: "`path` that logs the person out of every app (e.g. /.extauthz/logout); empty: off", value: &stringValue[string]{&d.LogoutPath}},
	}
}

// flag.Value implementations bound to Config fields. Each is usable as a
// zero value (package flag calls String on one).

type stringValue[T ~string] struct{ p *T }

func (v *stringValue[T]) String() string {
	if v == nil || v.p == nil {
		return ""
	}
	return string(*v.p)
}

func (v *stringValue[T]) Set(s string) error { *v.p = T(s); return nil }

type boolValue struct{ p *bool }

func (v *boolValue) String() string {
	if v == nil || v.p == nil {
		return "false"
	}
	return strconv.FormatBool(*v.p)
}

func (v *boolValue) Set(s string) error {
	b, err := strconv.ParseBool(s)
	if err != nil {
		return errNotBool
	}
	*v.p = b
	return nil
}

func (v *boolValue) IsBoolFlag() bool { return true }

type intValue struct{ p *int }

func (v *intValue) String() string {
	if v == nil || v.p == nil {
		return "0"
	}
	return strconv.Itoa(*v.p)
}

func (v *intValue) Set(s string) error {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return errNotInt
	}
	*v.p = n
	return nil
}

type floatValue struct{ p *float64 }

func (v *floatValue) String() string {
	if v == nil || v.p == nil {
		return "0"
	}
	return strconv.FormatFloat(*v.p, 'g', -1, 64)
}

func (v *floatValue) Set(s string) error {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil {
		return errNotFloat
	}
	*v.p = f
	return nil
}

type durationValue struct{ p *time.Duration }

func (v *durationValue) String() string {
	if v == nil || v.p == nil {
		return "0s"
	}
	return formatDuration(*v.p)
}

func (v *durationValue) Set(s string) error {
	d, err := ParseDuration(s)
	if err != nil {
		return err
	}
	*v.p = d
	return nil
}

// listValue is a comma-separated list; each use replaces the whole list.
type listValue struct{ p *[]string }

func (v *listValue) String() string {
	if v == nil || v.p == nil {
		return ""
	}
	return strings.Join(*v.p, ",")
}

func (v *listValue) Set(s string) error {
	out := []string{}
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	*v.p = out
	return nil
}

// unsetIntValue is an intValue whose negative value means "not set" (the
// deprecated cache_size): it prints as empty, not as the sentinel.
type unsetIntValue struct{ intValue }

func (v *unsetIntValue) String() string {
	if v == nil || v.p == nil || *v.p < 0 {
		return ""
	}
	return v.intValue.String()
}
