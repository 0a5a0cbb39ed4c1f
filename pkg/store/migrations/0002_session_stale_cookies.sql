-- Fingerprints (SHA-256 of "name=value") of the app cookies that were
-- expired when a session was created by an identity change. If the browser
-- sends one of them again, the expiry did not take and the request must not
-- reach the app beside the new person's profile id.
ALTER TABLE extauthz_sessions
    ADD COLUMN stale_cookies bytea[] NOT NULL DEFAULT '{}';
