// Package config is the one configuration of the extauthz binary.
//
// # Contract
//
// Parse builds a Config in four layers, each overriding the one before:
//
//  1. Default() — the documented defaults (they match authz.DefaultPolicy);
//  2. the YAML file named by --config FILE (or -config, --config=FILE), else
//     by $EXTAUTHZ_CONFIG; keys it leaves out keep their defaults;
//  3. environment variables EXTAUTHZ_<KEY> (upper snake case of the dotted
//     key); an empty variable counts as unset;
//  4. command-line flags --<key> (kebab case), only those actually given.
//
// Then it validates. Every problem is reported at once (errors.Join), file,
// environment, flag and validation problems alike, each message starting
// with the dotted key it is about:
//
//	apps.plane.flush_mode: must be "redirect" or "inline", got "x"
//	apps.plane.flush_mod: unknown key (did you mean flush_mode?) (extauthz.yaml:12)
//
// The YAML is strict: unknown keys, keys given twice and values of the wrong
// type are errors. Durations use Go syntax plus a leading day count: 150ms,
// 15s, 6h, 7d, 1d12h. Booleans from the environment and flags take the
// strconv.ParseBool forms (1, t, true, TRUE, 0, f, false…). Lists from the
// environment and flags are comma-separated.
//
// Settings that have a top-level default (the "app settings" rows below)
// apply to the default app, and every app under apps.<name> inherits them
// unless it sets its own; an app's explicit false, 0 or "" wins. Per-app
// keys (native_cookies, bypass, credentials, profile_source) and the app
// overrides are YAML-only. The app "default" always exists; it is the one
// used when a request names no app.
//
// Policies turns a validated Config into one authz.Policy per app, AppSource
// gives an app's profile source, Redacted hides database passwords for
// logging. database_url, profile_source.database_url, admin_token and
// log.email_hash_key are
// secrets: they are never echoed in errors; log Redacted() only. The --check-config flag sets
// Config.CheckConfig; the caller validates (Parse already did) and exits.
//
// # Keys
//
// Server (top level only):
//
//	key                   flag                    env                             default
//	grpc_addr             --grpc-addr             EXTAUTHZ_GRPC_ADDR              :9191
//	http_addr             --http-addr             EXTAUTHZ_HTTP_ADDR              :9090 (/healthz /readyz /metrics, pprof; never the check)
//	check_addr            --check-addr            EXTAUTHZ_CHECK_ADDR             "" = HTTP check off (/check, /nginx/check)
//	pprof                 --pprof                 EXTAUTHZ_PPROF                  false (/debug/pprof/ on http_addr)
//	database_url          --database-url          EXTAUTHZ_DATABASE_URL           "" = in-memory store, nothing persists
//	database_max_conns    --database-max-conns    EXTAUTHZ_DATABASE_MAX_CONNS     20
//	database_min_conns    --database-min-conns    EXTAUTHZ_DATABASE_MIN_CONNS     4, opened before ready (capped at database_max_conns)
//	lookup_timeout        --lookup-timeout        EXTAUTHZ_LOOKUP_TIMEOUT         150ms, must be < envoy_timeout
//	envoy_timeout         --envoy-timeout         EXTAUTHZ_ENVOY_TIMEOUT          200ms (Envoy's, for validation only)
//	unavailable_as_error  --unavailable-as-error  EXTAUTHZ_UNAVAILABLE_AS_ERROR   false = deny 503; true = gRPC Unavailable
//	migrate               --migrate               EXTAUTHZ_MIGRATE                false
//	shutdown_timeout      --shutdown-timeout      EXTAUTHZ_SHUTDOWN_TIMEOUT       15s
//	auto_register_rate    --auto-register-rate    EXTAUTHZ_AUTO_REGISTER_RATE     100 per second per replica (0: no bound); over it 429 registration_limited
//	auto_register_burst   --auto-register-burst   EXTAUTHZ_AUTO_REGISTER_BURST    200 at once
//	auto_register_concurrency --auto-register-concurrency EXTAUTHZ_AUTO_REGISTER_CONCURRENCY 8 in flight per replica (0: no bound); a registration waits for a slot within its deadline, then 429
//	max_sessions_per_profile --max-sessions-per-profile EXTAUTHZ_MAX_SESSIONS_PER_PROFILE 50 per app; one more revokes the least recently renewed (0: no cap)
//	grpc_codec            --grpc-codec            EXTAUTHZ_GRPC_CODEC             wire | generated (the experimental-API fast path off)
//	shutdown_delay        --shutdown-delay        EXTAUTHZ_SHUTDOWN_DELAY         5s (NOT_SERVING, still answering, before the drain)
//	cache_memory          --cache-memory          EXTAUTHZ_CACHE_MEMORY           256MiB for all caches together (0 = off); 268435456, 256MiB, 1GiB, 300MB;
//	                                                                              at most half of GOMEMLIMIT when that is set, else the Go memory limit becomes it + 128MiB
//	cache_size            --cache-size            EXTAUTHZ_CACHE_SIZE             deprecated, unset; when set also caps each cache's entries (0 = off), with a warning at start
//	cache_ttl             --cache-ttl             EXTAUTHZ_CACHE_TTL              30s (fallback when the change feed is down)
//	negative_cache_ttl    --negative-cache-ttl    EXTAUTHZ_NEGATIVE_CACHE_TTL     2s (0 = off), must be <= cache_ttl
//	change_feed           --change-feed           EXTAUTHZ_CHANGE_FEED            true (LISTEN/NOTIFY; database only)
//	admin_addr            --admin-addr            EXTAUTHZ_ADMIN_ADDR             "" = admin gRPC API off
//	admin_token           --admin-token           EXTAUTHZ_ADMIN_TOKEN            "" (secret; required with admin_addr, ≥ 16 chars)
//	log.level             --log-level             EXTAUTHZ_LOG_LEVEL              info (debug|info|warn|error)
//	log.format            --log-format            EXTAUTHZ_LOG_FORMAT             json (json|text)
//	log.log_emails        --log-log-emails        EXTAUTHZ_LOG_LOG_EMAILS         false (emails hashed)
//	log.email_hash_key    --log-email-hash-key    EXTAUTHZ_LOG_EMAIL_HASH_KEY     "" = random per process, with a warning (secret; ≥ 16 chars)
//	log.decision_sample   --log-decision-sample   EXTAUTHZ_LOG_DECISION_SAMPLE    1.0, in [0,1]
//
// HTTP check origin (top level only): the headers each endpoint reads the
// original request line from. Each must be set by that endpoint's proxy,
// replacing the client's copy; headers of the other family are ignored.
// method_header "" takes the check request's method, host_header "" its
// Host, proto_header "" the check connection's scheme; uri_header is
// required.
//
//	http_check.nginx.method_header     --http-check-nginx-method-header     EXTAUTHZ_HTTP_CHECK_NGINX_METHOD_HEADER     X-Original-Method
//	http_check.nginx.uri_header        --http-check-nginx-uri-header        EXTAUTHZ_HTTP_CHECK_NGINX_URI_HEADER        X-Original-URI
//	http_check.nginx.host_header       --http-check-nginx-host-header       EXTAUTHZ_HTTP_CHECK_NGINX_HOST_HEADER       "" (Host, set by deploy/nginx)
//	http_check.nginx.proto_header      --http-check-nginx-proto-header      EXTAUTHZ_HTTP_CHECK_NGINX_PROTO_HEADER      X-Forwarded-Proto
//	http_check.forward.method_header   --http-check-forward-method-header   EXTAUTHZ_HTTP_CHECK_FORWARD_METHOD_HEADER   X-Forwarded-Method
//	http_check.forward.uri_header      --http-check-forward-uri-header      EXTAUTHZ_HTTP_CHECK_FORWARD_URI_HEADER      X-Forwarded-Uri
//	http_check.forward.host_header     --http-check-forward-host-header     EXTAUTHZ_HTTP_CHECK_FORWARD_HOST_HEADER     X-Forwarded-Host
//	http_check.forward.proto_header    --http-check-forward-proto-header    EXTAUTHZ_HTTP_CHECK_FORWARD_PROTO_HEADER    X-Forwarded-Proto
//
// Server limits (top level only; http_server applies to check_addr and
// http_addr, each on its own):
//
//	http_server.read_header_timeout    --http-server-read-header-timeout    EXTAUTHZ_HTTP_SERVER_READ_HEADER_TIMEOUT    5s, <= read_timeout
//	http_server.read_timeout           --http-server-read-timeout           EXTAUTHZ_HTTP_SERVER_READ_TIMEOUT           10s
//	http_server.idle_timeout           --http-server-idle-timeout           EXTAUTHZ_HTTP_SERVER_IDLE_TIMEOUT           60s
//	http_server.max_header_bytes       --http-server-max-header-bytes       EXTAUTHZ_HTTP_SERVER_MAX_HEADER_BYTES       131072 (431 above), ≥ 8192
//	http_server.max_conns              --http-server-max-conns              EXTAUTHZ_HTTP_SERVER_MAX_CONNS              4096 open connections per listener
//	grpc_server.max_recv_msg_size      --grpc-server-max-recv-msg-size      EXTAUTHZ_GRPC_SERVER_MAX_RECV_MSG_SIZE      262144 (ResourceExhausted above), ≥ 16384
//	grpc_server.max_concurrent_streams --grpc-server-max-concurrent-streams EXTAUTHZ_GRPC_SERVER_MAX_CONCURRENT_STREAMS 1024 per connection
//	grpc_server.keepalive_min_time     --grpc-server-keepalive-min-time     EXTAUTHZ_GRPC_SERVER_KEEPALIVE_MIN_TIME     10s (clients pinging more often are cut off)
//	grpc_server.max_connection_age       --grpc-server-max-connection-age       EXTAUTHZ_GRPC_SERVER_MAX_CONNECTION_AGE       5m (0: never)
//	grpc_server.max_connection_age_grace --grpc-server-max-connection-age-grace EXTAUTHZ_GRPC_SERVER_MAX_CONNECTION_AGE_GRACE 30s
//	grpc_server.keepalive_permit_without_stream --grpc-server-keepalive-permit-without-stream EXTAUTHZ_GRPC_SERVER_KEEPALIVE_PERMIT_WITHOUT_STREAM true
//
// App settings (top-level default, overridable under apps.<name>):
//
//	key                   flag                    env                             default
//	identity_header       --identity-header       EXTAUTHZ_IDENTITY_HEADER        x-auth-request-email
//	user_header           --user-header           EXTAUTHZ_USER_HEADER            x-auth-request-user
//	name_header           --name-header           EXTAUTHZ_NAME_HEADER            x-auth-request-preferred-username
//	identity_key          --identity-key          EXTAUTHZ_IDENTITY_KEY           email (email|user; user needs user_header)
//	default_email_domain  --default-email-domain  EXTAUTHZ_DEFAULT_EMAIL_DOMAIN   ""
//	auto_register         --auto-register         EXTAUTHZ_AUTO_REGISTER          false
//	on_missing_identity   --on-missing-identity   EXTAUTHZ_ON_MISSING_IDENTITY    session (session|deny)
//	on_unknown_identity   --on-unknown-identity   EXTAUTHZ_ON_UNKNOWN_IDENTITY    anonymous (anonymous|deny)
//	profile_header        --profile-header        EXTAUTHZ_PROFILE_HEADER         x-profile-id
//	reason_header         --reason-header         EXTAUTHZ_REASON_HEADER          x-extauthz-reason ("" = off)
//	owned_headers         --owned-headers         EXTAUTHZ_OWNED_HEADERS          [] (profile_header is always owned)
//	cookie.name           --cookie-name           EXTAUTHZ_COOKIE_NAME            extauthz_session
//	cookie.domain         --cookie-domain         EXTAUTHZ_COOKIE_DOMAIN          "" (host-only)
//	cookie.path           --cookie-path           EXTAUTHZ_COOKIE_PATH            /
//	cookie.secure         --cookie-secure         EXTAUTHZ_COOKIE_SECURE          true
//	cookie.same_site      --cookie-same-site      EXTAUTHZ_COOKIE_SAME_SITE       Lax (Lax|Strict|None)
//	session_max_age       --session-max-age       EXTAUTHZ_SESSION_MAX_AGE        168h
//	renew_after           --renew-after           EXTAUTHZ_RENEW_AFTER            6h, must be < session_max_age
//	flush_mode            --flush-mode            EXTAUTHZ_FLUSH_MODE             redirect (redirect|inline)
//	max_set_cookies       --max-set-cookies       EXTAUTHZ_MAX_SET_COOKIES        0 (no limit)
//	cookies_via_redirect  --cookies-via-redirect  EXTAUTHZ_COOKIES_VIA_REDIRECT   false (true for Caddy forward_auth)
//	loop_guard_window     --loop-guard-window     EXTAUTHZ_LOOP_GUARD_WINDOW      10s (repeats of one identity change replay its hop)
//	retry_after           --retry-after           EXTAUTHZ_RETRY_AFTER            2s, at least 1s
//
// Per-app only (YAML, under apps.<name>):
//
//	native_cookies[]      {name, domain, path (default /), secure}: the app's own session cookies to flush
//	bypass[]              normalised path prefixes, matched on whole segments, that skip session work
//	credentials[]         {header, scheme, prefix, mode: validate|pass_through}: programmatic credentials
//	profile_source        {kind: builtin|sql, database_url, query ($1 = email), register_query ($1, $2 = name),
//	                       max_conns (default 4), timeout (default lookup_timeout)}
//
// Other (YAML only): seed_profiles[] {email, name, active (default true),
// blocked} fills the in-memory store when database_url is empty. --config
// FILE ($EXTAUTHZ_CONFIG) and --check-config are flags only.
//
// # Rules Validate enforces
//
// Addresses are host:port and differ (check_addr too, when set);
// http_check.*.uri_header is set and every http_check header is a valid
// name; http_server timeouts are positive, max_header_bytes ≥ 8192,
// max_conns ≥ 1; grpc_server.max_recv_msg_size ≥ 16384,
// max_concurrent_streams ≥ 1, keepalive_min_time positive;
// log.email_hash_key, when set, has at least 16 characters; admin_addr set needs an admin_token
// of at least 16 characters without whitespace; lookup_timeout < envoy_timeout;
// durations positive, renew_after < session_max_age, retry_after ≥ 1s;
// cache_memory is 0 or at least 1MiB; cache_size (when set) ≥ 0;
// 0 ≤ negative_cache_ttl ≤ cache_ttl;
// enums as listed; header names are valid tokens (any case; Policies
// lower-cases them) and profile_header is none of the identity headers;
// cookie names are valid tokens; a __Host- cookie is secure, has path / and
// no domain; a __Secure- cookie is secure; same_site None needs secure;
// native cookies are distinct by (name, domain, path) and are not the
// service cookie; bypass prefixes start with "/", are already normalised
// and are not "/"; credentials have a header and a valid mode and are
// distinct; an sql profile_source has a database_url and a query using
// exactly $1, a register_query using $1 (and optionally $2), and needs a
// register_query if auto_register is on; max_set_cookies ≥ 0;
// log.decision_sample in [0,1]; seed_profiles[i].email is a valid email
// (normalised with authz.NormalizeEmail) and unique. An error in a
// top-level default is reported once; an app is named only for the keys it
// sets (or for the keys a cross-key rule ties to one it sets).
package config
