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
//	apps.plane.flush_mode: must be "redirect" or "inline", got "x" (extauthz.yaml:11)
//	apps.plane.flush_mod: unknown key (did you mean flush_mode?) (extauthz.yaml:12)
//
// A problem about a key the file set ends with the file and line it was
// set on.
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
// keys (hosts, native_cookies, bypass, credentials, profile_source) and the
// app overrides are YAML-only. The app "default" always exists.
//
// # Which app decides a request
//
// The app the front end names: Envoy's context_extensions["app"], or the
// HTTP check's /check/<app> path, ?app= query or X-Extauthz-App header.
// When it names none, the app whose hosts match the request's host
// (:authority for Envoy; for the HTTP check the host header its endpoint
// trusts, http_check.*.host_header), compared case-insensitively with the
// port and a trailing dot removed. When none matches, the app "default".
// A named app that is not configured is not guessed at: every request
// naming it gets 503 misconfigured.
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
// The reference of every key, flag, variable and default, and the rules
// Validate enforces, is docs/configuration.md. It is generated from this
// package (WriteReference: flag bindings, Default(), and the YAML-only keys
// by reflection with their text in yamlDocs); `make docs` rewrites it and
// TestReferenceIsCurrent fails when it is stale. A new key needs a binding
// (scalar keys) or a yamlDocs entry (YAML-only keys), or the reference
// tests fail.
package config
