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
// logging. database_url, profile_source.database_url and admin_token are
// secrets: they are never echoed in errors; log Redacted() only. The --check-config flag sets
// Config.CheckConfig; the caller validates (Parse already did) and exits.
//
// # Keys
//
// Server (top level only):
//
//	key                   flag                    env                             default
//	grpc_addr             --grpc-addr             EXTAUTHZ_GRPC_ADDR              :9191
//	http_addr             --http-addr             EXTAUTHZ_HTTP_ADDR              :9090 (/healthz /readyz /metrics, HTTP check)
//	pprof                 --pprof                 EXTAUTHZ_PPROF                  false (/debug/pprof/ on http_addr)
//	database_url          --database-url          EXTAUTHZ_DATABASE_URL           "" = in-memory store, nothing persists
//	database_max_conns    --database-max-conns    EXTAUTHZ_DATABASE_MAX_CONNS     20
//	database_min_conns    --database-min-conns    EXTAUTHZ_DATABASE_MIN_CONNS     4, opened before ready, at most database_max_conns
//	lookup_timeout        --lookup-timeout        EXTAUTHZ_LOOKUP_TIMEOUT         150ms, must be < envoy_timeout
//	envoy_timeout         --envoy-timeout         EXTAUTHZ_ENVOY_TIMEOUT          200ms (Envoy's, for validation only)
//	unavailable_as_error  --unavailable-as-error  EXTAUTHZ_UNAVAILABLE_AS_ERROR   false = deny 503; true = gRPC Unavailable
//	migrate               --migrate               EXTAUTHZ_MIGRATE                false
//	shutdown_timeout      --shutdown-timeout      EXTAUTHZ_SHUTDOWN_TIMEOUT       15s
//	cache_size            --cache-size            EXTAUTHZ_CACHE_SIZE             100000 entries per cache (0 = off)
//	cache_ttl             --cache-ttl             EXTAUTHZ_CACHE_TTL              30s (fallback when the change feed is down)
//	negative_cache_ttl    --negative-cache-ttl    EXTAUTHZ_NEGATIVE_CACHE_TTL     2s (0 = off), must be <= cache_ttl
//	change_feed           --change-feed           EXTAUTHZ_CHANGE_FEED            true (LISTEN/NOTIFY; database only)
//	admin_addr            --admin-addr            EXTAUTHZ_ADMIN_ADDR             "" = admin gRPC API off
//	admin_token           --admin-token           EXTAUTHZ_ADMIN_TOKEN            "" (secret; required with admin_addr, ≥ 16 chars)
//	log.level             --log-level             EXTAUTHZ_LOG_LEVEL              info (debug|info|warn|error)
//	log.format            --log-format            EXTAUTHZ_LOG_FORMAT             json (json|text)
//	log.log_emails        --log-log-emails        EXTAUTHZ_LOG_LOG_EMAILS         false (emails hashed)
//	log.decision_sample   --log-decision-sample   EXTAUTHZ_LOG_DECISION_SAMPLE    1.0, in [0,1]
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
// Addresses are host:port and differ; admin_addr set needs an admin_token
// of at least 16 characters without whitespace; lookup_timeout < envoy_timeout;
// durations positive, renew_after < session_max_age, retry_after ≥ 1s;
// cache_size ≥ 0; 0 ≤ negative_cache_ttl ≤ cache_ttl;
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
