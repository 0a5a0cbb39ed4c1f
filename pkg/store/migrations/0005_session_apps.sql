-- Apps that share a browser's cookie scope (one host routed by path, or a
-- common cookie domain) share its binding: a session made by one app is
-- taken by another for the same person (same identity key, same profile
-- id) instead of being replaced. apps lists the apps besides app that took
-- it; each first took it with its own app cookies of unknown provenance
-- expired (their fingerprints join stale_cookies).
ALTER TABLE extauthz_sessions
    ADD COLUMN apps text[] NOT NULL DEFAULT '{}';
