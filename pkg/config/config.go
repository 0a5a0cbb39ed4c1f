package config

import (
	"time"

	"github.com/extauthz/extauthz/pkg/authz"
)

// Config is the whole configuration of the extauthz binary. The zero value is
// not useful; start from Default (Parse does).
type Config struct {
	// ConfigFile is the YAML file Parse loaded ("" for none). Set by Parse.
	ConfigFile string `yaml:"-"`
	// CheckConfig is --check-config: validate, report and exit.
	CheckConfig bool `yaml:"-"`

	GRPCAddr string `yaml:"grpc_addr"`
	// HTTPAddr serves /healthz, /readyz, /metrics (and pprof when on); never
	// the HTTP check.
	HTTPAddr string `yaml:"http_addr"`
	// CheckAddr serves the HTTP check (/check, /nginx/check) for nginx,
	// Traefik and Caddy on its own listener; "" (the default) turns it off.
	// It trusts identity headers, so only the proxy may reach it.
	CheckAddr string `yaml:"check_addr"`
	// HTTPCheck names the headers each HTTP check endpoint reads the
	// original request from.
	HTTPCheck HTTPCheck `yaml:"http_check"`
	// HTTPServer bounds the HTTP listeners (check_addr and http_addr).
	HTTPServer HTTPServer `yaml:"http_server"`
	// GRPCCodec is how Check reads Envoy's request and writes its answer:
	// "wire" (default) reads the fields it needs straight from the bytes;
	// "generated" goes through the generated protobuf messages, for an
	// operator who wants the experimental grpc-go codec API off.
	GRPCCodec string `yaml:"grpc_codec"`
	// GRPCServer bounds the gRPC Check listener (grpc_addr).
	GRPCServer GRPCServer `yaml:"grpc_server"`
	// Pprof serves Go's profiler at /debug/pprof/ on HTTPAddr. Off by
	// default: profiles reveal internals and cost CPU while taken.
	Pprof bool `yaml:"pprof"`
	// DatabaseURL is a secret: log Redacted() only. Empty runs the in-memory
	// store seeded from SeedProfiles.
	DatabaseURL      string `yaml:"database_url"`
	DatabaseMaxConns int    `yaml:"database_max_conns"`
	// DatabaseMinConns connections are opened and verified before the
	// service reports ready, and the pool keeps at least that many: a fresh
	// replica's first burst must not wait for connections to be opened.
	// Capped at DatabaseMaxConns.
	DatabaseMinConns int `yaml:"database_min_conns"`
	// LookupTimeout bounds the store work of one decision; it must stay below
	// EnvoyTimeout so the service answers 503 itself.
	LookupTimeout time.Duration `yaml:"lookup_timeout"`
	// EnvoyTimeout is the front end's ext_authz timeout, as the operator
	// configured it there; used only to validate LookupTimeout.
	EnvoyTimeout time.Duration `yaml:"envoy_timeout"`
	// UnavailableAsError answers "store unavailable" with a gRPC Unavailable
	// error (Envoy's failure_mode_allow decides) instead of a deny-503.
	UnavailableAsError bool          `yaml:"unavailable_as_error"`
	Migrate            bool          `yaml:"migrate"`
	ShutdownTimeout    time.Duration `yaml:"shutdown_timeout"`
	// ShutdownDelay is how long a replica keeps answering Checks after
	// SIGTERM while it says NOT_SERVING and /readyz fails, so that Envoy's
	// health check and the endpoints controller take it out of rotation
	// before it starts to drain.
	ShutdownDelay time.Duration `yaml:"shutdown_delay"`
	// MaxSessionsPerProfile caps the live sessions one profile holds for
	// one app; creating one more revokes the least recently renewed. 0: no
	// cap.
	MaxSessionsPerProfile int `yaml:"max_sessions_per_profile"`
	// AutoRegisterRate bounds the registrations (auto_register) one replica
	// asks of a profile source, per second, with AutoRegisterBurst at once;
	// over it the request gets 429 registration_limited with Retry-After.
	// 0: no bound.
	AutoRegisterRate  float64 `yaml:"auto_register_rate"`
	AutoRegisterBurst int     `yaml:"auto_register_burst"`
	// AutoRegisterConcurrency bounds the registrations one replica has in
	// flight at once, so that a burst of them cannot hold every pool
	// connection; a registration waits for a slot within its deadline, then
	// gets 429 as well. 0: no bound.
	AutoRegisterConcurrency int `yaml:"auto_register_concurrency"`
	// CacheMemory bounds the in-process caches (profiles, sessions, access
	// tokens) together, in bytes; 0 turns the caches off.
	CacheMemory ByteSize `yaml:"cache_memory"`
	// CacheSize is deprecated (cache_memory bounds the caches): when set,
	// it also caps each cache's entries, and 0 still turns the caches off.
	// CacheSizeUnset (the default) leaves the caches to cache_memory.
	CacheSize int `yaml:"cache_size"`
	// CacheTTL bounds the age of a cached answer when the change feed is
	// down (with it, changes evict at once).
	CacheTTL time.Duration `yaml:"cache_ttl"`
	// NegativeCacheTTL bounds the age of a cached "not found"; 0 turns
	// negative caching off.
	NegativeCacheTTL time.Duration `yaml:"negative_cache_ttl"`
	// ChangeFeed LISTENs for invalidations (database only).
	ChangeFeed bool `yaml:"change_feed"`
	// AdminAddr serves the admin gRPC API (proto/extauthz/admin/v1); ""
	// (the default) turns it off.
	AdminAddr string `yaml:"admin_addr"`
	// AdminToken is the bearer token every admin call must carry; required
	// when AdminAddr is set. A secret: never logged or echoed.
	AdminToken string `yaml:"admin_token"`
	Log        Log    `yaml:"log"`

	// Defaults apply to the default app, and every app inherits them unless
	// it overrides them. In YAML they sit at the top level.
	Defaults AppSettings `yaml:",inline"`

	// Apps are the protected upstreams by name. The app "default" exists
	// whether or not it is listed.
	Apps map[string]App `yaml:"apps"`

	// SeedProfiles fill the in-memory store (no DatabaseURL) at start.
	SeedProfiles []SeedProfile `yaml:"seed_profiles,omitempty"`
}

// Log configures logging.
type Log struct {
	Level  string `yaml:"level"`  // debug|info|warn|error
	Format string `yaml:"format"` // json|text
	// LogEmails puts email addresses in logs; off, they are hashed.
	LogEmails bool `yaml:"log_emails"`
	// EmailHashKey keys the email_hash of log lines (HMAC-SHA256 of the
	// normalised email), so that one person's hash is the same on every
	// replica and across restarts. A secret. "" uses a random key per
	// process (with a warning at start).
	EmailHashKey string `yaml:"email_hash_key"`
	// DecisionSample is the fraction (0..1) of allow decisions logged.
	// Allows are logged at debug, so it matters only with Level "debug";
	// denials are always logged, at info.
	DecisionSample float64 `yaml:"decision_sample"`
}

// HTTPCheck configures the HTTP check endpoints.
type HTTPCheck struct {
	// Nginx: /nginx/check and /nginx/check/<app> (deploy/nginx).
	Nginx Origin `yaml:"nginx"`
	// Forward: /check and /check/<app> (Traefik ForwardAuth, Caddy
	// forward_auth).
	Forward Origin `yaml:"forward"`
}

// Origin names the headers one endpoint reads the original request line
// from; each must be a header that endpoint's proxy sets itself, replacing
// the client's copy (see httpcheck.Origin).
type Origin struct {
	// MethodHeader "" takes the check request's own method.
	MethodHeader string `yaml:"method_header"`
	// URIHeader carries the original path and query; required.
	URIHeader string `yaml:"uri_header"`
	// HostHeader "" (or "host") takes the check request's Host.
	HostHeader string `yaml:"host_header"`
	// ProtoHeader "" takes the check connection's scheme.
	ProtoHeader string `yaml:"proto_header"`
}

// HTTPServer bounds each HTTP listener. Every limit applies to each
// listener on its own.
type HTTPServer struct {
	// ReadHeaderTimeout bounds reading a request's headers.
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	// ReadTimeout bounds reading a whole request, body included.
	ReadTimeout time.Duration `yaml:"read_timeout"`
	// IdleTimeout closes a keep-alive connection idle this long.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// MaxHeaderBytes bounds the request line and headers; above it Go
	// answers 431.
	MaxHeaderBytes int `yaml:"max_header_bytes"`
	// MaxConns caps open connections; further ones wait to be accepted.
	MaxConns int `yaml:"max_conns"`
}

// The values of grpc_codec.
const (
	GRPCCodecWire      = "wire"
	GRPCCodecGenerated = "generated"
)

// GRPCServer bounds the gRPC Check server.
type GRPCServer struct {
	// MaxRecvMsgSize bounds one CheckRequest in bytes (ResourceExhausted
	// above). Envoy's with_request_body adds up to max_request_bytes.
	MaxRecvMsgSize int `yaml:"max_recv_msg_size"`
	// MaxConcurrentStreams bounds concurrent calls per connection.
	MaxConcurrentStreams int `yaml:"max_concurrent_streams"`
	// KeepaliveMinTime is the shortest ping interval a client may use;
	// a client pinging more often is disconnected.
	KeepaliveMinTime time.Duration `yaml:"keepalive_min_time"`
	// KeepalivePermitWithoutStream lets clients ping idle connections
	// (Envoy's connection_keepalive does).
	KeepalivePermitWithoutStream bool `yaml:"keepalive_permit_without_stream"`
	// MaxConnectionAge closes a client connection (GOAWAY) once it is this
	// old, so that Envoy reconnects and its connections spread over the
	// replicas that exist now; 0 keeps connections forever.
	MaxConnectionAge time.Duration `yaml:"max_connection_age"`
	// MaxConnectionAgeGrace is how long calls in flight on such a
	// connection may still take.
	MaxConnectionAgeGrace time.Duration `yaml:"max_connection_age_grace"`
}

// AppSettings are the per-app settings that have a top-level default.
// Header names may be written in any case; Policies lower-cases them.
type AppSettings struct {
	IdentityHeader     string                `yaml:"identity_header"`
	UserHeader         string                `yaml:"user_header"`
	NameHeader         string                `yaml:"name_header"`
	IdentityKey        authz.IdentityKeyKind `yaml:"identity_key"`
	DefaultEmailDomain string                `yaml:"default_email_domain"`
	AutoRegister       bool                  `yaml:"auto_register"`
	OnMissingIdentity  authz.MissingIdentity `yaml:"on_missing_identity"`
	OnUnknownIdentity  authz.UnknownIdentity `yaml:"on_unknown_identity"`
	ProfileHeader      string                `yaml:"profile_header"`
	// ReasonHeader "" turns the reason response header off.
	ReasonHeader  string          `yaml:"reason_header"`
	OwnedHeaders  []string        `yaml:"owned_headers"`
	Cookie        Cookie          `yaml:"cookie"`
	SessionMaxAge time.Duration   `yaml:"session_max_age"`
	RenewAfter    time.Duration   `yaml:"renew_after"`
	FlushMode     authz.FlushMode `yaml:"flush_mode"`
	MaxSetCookies int             `yaml:"max_set_cookies"`
	// CookiesViaRedirect: the front end drops an allowed check's
	// Set-Cookie (Caddy forward_auth); session cookies travel on redirects.
	CookiesViaRedirect bool          `yaml:"cookies_via_redirect"`
	LoopGuardWindow    time.Duration `yaml:"loop_guard_window"`
	RetryAfter         time.Duration `yaml:"retry_after"`
	// IdentityJWT takes the identity from a verified token; off without
	// an issuer.
	IdentityJWT IdentityJWT `yaml:"identity_jwt"`
	// SignOutURL is the proxy's sign-out (/oauth2/sign_out), where a
	// logged-out token and logout_path send the browser.
	SignOutURL string `yaml:"sign_out_url"`
	// LogoutPath, when set, logs the person out of every app.
	LogoutPath string `yaml:"logout_path"`
}

// Cookie is the service's own session cookie.
type Cookie struct {
	Name     string `yaml:"name"`
	Domain   string `yaml:"domain"`
	Path     string `yaml:"path"`
	Secure   bool   `yaml:"secure"`
	SameSite string `yaml:"same_site"` // Lax|Strict|None
}

// App is one protected upstream as configured under apps.<name>.
type App struct {
	// Hosts select this app for a request that names no app (Envoy sends
	// no context_extensions["app"], as with Istio's CUSTOM provider; the
	// HTTP check's path, query and header name none): exact names and
	// "*.suffix" wildcards, matched case-insensitively on :authority/Host
	// without its port. Never inherited; no two apps' hosts overlap.
	Hosts []string `yaml:"hosts,omitempty"`
	// NativeCookies are the app's own session cookies, flushed on an
	// identity change with exactly these attributes.
	NativeCookies []NativeCookie `yaml:"native_cookies,omitempty"`
	// Bypass are path prefixes (whole segments) that skip session work.
	Bypass []string `yaml:"bypass,omitempty"`
	// Credentials are programmatic credentials the app accepts.
	Credentials   []Credential  `yaml:"credentials,omitempty"`
	ProfileSource ProfileSource `yaml:"profile_source,omitempty"`

	// AppOverrides holds the top-level settings this app sets for itself;
	// a nil field inherits Config.Defaults.
	AppOverrides `yaml:",inline"`
}

// AppOverrides mirrors AppSettings with pointers, so that an explicit false,
// 0 or "" in an app overrides a top-level default.
type AppOverrides struct {
	IdentityHeader     *string                `yaml:"identity_header,omitempty"`
	UserHeader         *string                `yaml:"user_header,omitempty"`
	NameHeader         *string                `yaml:"name_header,omitempty"`
	IdentityKey        *authz.IdentityKeyKind `yaml:"identity_key,omitempty"`
	DefaultEmailDomain *string                `yaml:"default_email_domain,omitempty"`
	AutoRegister       *bool                  `yaml:"auto_register,omitempty"`
	OnMissingIdentity  *authz.MissingIdentity `yaml:"on_missing_identity,omitempty"`
	OnUnknownIdentity  *authz.UnknownIdentity `yaml:"on_unknown_identity,omitempty"`
	ProfileHeader      *string                `yaml:"profile_header,omitempty"`
	ReasonHeader       *string                `yaml:"reason_header,omitempty"`
	OwnedHeaders       *[]string              `yaml:"owned_headers,omitempty"`
	Cookie             *CookieOverride        `yaml:"cookie,omitempty"`
	SessionMaxAge      *time.Duration         `yaml:"session_max_age,omitempty"`
	RenewAfter         *time.Duration         `yaml:"renew_after,omitempty"`
	FlushMode          *authz.FlushMode       `yaml:"flush_mode,omitempty"`
	MaxSetCookies      *int                   `yaml:"max_set_cookies,omitempty"`
	CookiesViaRedirect *bool                  `yaml:"cookies_via_redirect,omitempty"`
	LoopGuardWindow    *time.Duration         `yaml:"loop_guard_window,omitempty"`
	RetryAfter         *time.Duration         `yaml:"retry_after,omitempty"`
	IdentityJWT        *IdentityJWTOverride   `yaml:"identity_jwt,omitempty"`
	SignOutURL         *string                `yaml:"sign_out_url,omitempty"`
	LogoutPath         *string                `yaml:"logout_path,omitempty"`
}

// CookieOverride overrides single attributes of the inherited Cookie.
type CookieOverride struct {
	Name     *string `yaml:"name,omitempty"`
	Domain   *string `yaml:"domain,omitempty"`
	Path     *string `yaml:"path,omitempty"`
	Secure   *bool   `yaml:"secure,omitempty"`
	SameSite *string `yaml:"same_site,omitempty"`
}

// NativeCookie is one of an app's own cookies. Path "" means "/".
type NativeCookie struct {
	Name   string `yaml:"name"`
	Domain string `yaml:"domain"`
	Path   string `yaml:"path"`
	Secure bool   `yaml:"secure"`
}

// Credential recognises a programmatic credential (authz.Credential).
type Credential struct {
	Header string               `yaml:"header"`
	Scheme string               `yaml:"scheme"`
	Mode   authz.CredentialMode `yaml:"mode"` // validate|pass_through
	Prefix string               `yaml:"prefix"`
}

// Profile source kinds.
const (
	// SourceBuiltin resolves profiles from extauthz's own table (or the
	// in-memory store when there is no database).
	SourceBuiltin = "builtin"
	// SourceSQL runs an operator-supplied query against the app's database.
	SourceSQL = "sql"
)

// ProfileSource says where an app's profiles come from.
type ProfileSource struct {
	Kind string `yaml:"kind,omitempty"` // builtin (default) | sql
	// DatabaseURL is the app's own database (sql only). A secret.
	DatabaseURL string `yaml:"database_url,omitempty"`
	// Query returns (id text, is_active bool, is_blocked bool) for the
	// normalised email $1; no row means "no profile".
	Query string `yaml:"query,omitempty"`
	// RegisterQuery, if set, creates a profile for email $1 (and display
	// name $2) and returns the same three columns; used by auto_register.
	RegisterQuery string `yaml:"register_query,omitempty"`
	// MaxConns bounds the app's pool (sql; default 4).
	MaxConns int `yaml:"max_conns,omitempty"`
	// Timeout bounds one query; 0 inherits lookup_timeout.
	Timeout time.Duration `yaml:"timeout,omitempty"`
}

// SeedProfile is a profile the in-memory store starts with. In YAML,
// active defaults to true when omitted.
type SeedProfile struct {
	Email   string `yaml:"email"`
	Name    string `yaml:"name"`
	Active  bool   `yaml:"active"`
	Blocked bool   `yaml:"blocked"`
}

// Cache defaults.
const (
	// DefaultCacheMemory holds about a million sessions (a cached session
	// takes some 230 bytes).
	DefaultCacheMemory ByteSize = 256 << 20
	// CacheSizeUnset is cache_size when nobody set it.
	CacheSizeUnset = -1
)

// Default returns the documented defaults; it matches authz.DefaultPolicy.
func Default() Config {
	p := authz.DefaultPolicy(authz.DefaultApp)
	return Config{
		GRPCAddr:                ":9191",
		HTTPAddr:                ":9090",
		DatabaseMaxConns:        20,
		DatabaseMinConns:        4,
		LookupTimeout:           150 * time.Millisecond,
		EnvoyTimeout:            200 * time.Millisecond,
		ShutdownTimeout:         15 * time.Second,
		ShutdownDelay:           5 * time.Second,
		MaxSessionsPerProfile:   50,
		AutoRegisterRate:        100,
		AutoRegisterBurst:       200,
		AutoRegisterConcurrency: 8,
		GRPCCodec:               GRPCCodecWire,
		CacheMemory:             DefaultCacheMemory,
		CacheSize:               CacheSizeUnset,
		CacheTTL:                30 * time.Second,
		NegativeCacheTTL:        2 * time.Second,
		ChangeFeed:              true,
		HTTPCheck: HTTPCheck{
			Nginx:   Origin{MethodHeader: "X-Original-Method", URIHeader: "X-Original-URI", ProtoHeader: "X-Forwarded-Proto"},
			Forward: Origin{MethodHeader: "X-Forwarded-Method", URIHeader: "X-Forwarded-Uri", HostHeader: "X-Forwarded-Host", ProtoHeader: "X-Forwarded-Proto"},
		},
		HTTPServer: HTTPServer{
			ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout:       10 * time.Second,
			IdleTimeout:       60 * time.Second,
			MaxHeaderBytes:    128 << 10,
			MaxConns:          4096,
		},
		GRPCServer: GRPCServer{
			MaxRecvMsgSize:               256 << 10,
			MaxConcurrentStreams:         1024,
			KeepaliveMinTime:             10 * time.Second,
			KeepalivePermitWithoutStream: true,
			MaxConnectionAge:             5 * time.Minute,
			MaxConnectionAgeGrace:        30 * time.Second,
		},
		Log: Log{
			Level:          "info",
			Format:         "json",
			DecisionSample: 1.0,
		},
		Defaults: defaultSettings(p),
		Apps:     map[string]App{},
	}
}

// defaultSettings are the app settings of the default policy p.
func defaultSettings(p authz.Policy) AppSettings {
	return AppSettings{
		IdentityHeader:     p.EmailHeader,
		UserHeader:         p.UserHeader,
		NameHeader:         p.NameHeader,
		IdentityKey:        p.IdentityKey,
		DefaultEmailDomain: p.DefaultEmailDomain,
		AutoRegister:       p.AutoRegister,
		OnMissingIdentity:  p.OnMissingIdentity,
		OnUnknownIdentity:  p.OnUnknownIdentity,
		ProfileHeader:      p.ProfileHeader,
		ReasonHeader:       p.ReasonHeader,
		OwnedHeaders:       []string{},
		Cookie: Cookie{
			Name:     p.Cookie.Name,
			Domain:   p.Cookie.Domain,
			Path:     p.Cookie.Path,
			Secure:   p.Cookie.Secure,
			SameSite: p.Cookie.SameSite,
		},
		SessionMaxAge:   p.SessionMaxAge,
		RenewAfter:      p.RenewAfter,
		FlushMode:       p.FlushMode,
		MaxSetCookies:   p.MaxSetCookies,
		LoopGuardWindow: p.LoopGuardWindow,
		RetryAfter:      p.RetryAfter,
		IdentityJWT:     defaultIdentityJWT(p.IdentityJWT),
	}
}
