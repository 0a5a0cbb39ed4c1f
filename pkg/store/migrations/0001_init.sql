-- Built-in tables of extauthz. Every name carries the extauthz_ prefix so the
-- schema can share a database with an application's own tables.

CREATE TABLE extauthz_profiles (
    id          uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    -- Normalised by the service (trim, NFKC, lower-case) before it gets here.
    email       text        NOT NULL CHECK (email <> ''),
    name        text        NOT NULL DEFAULT '',
    is_active   boolean     NOT NULL DEFAULT true,
    is_blocked  boolean     NOT NULL DEFAULT false,
    -- Soft delete: the row stays so that the email keeps resolving to a
    -- denied profile and auto-registration cannot resurrect it.
    deleted_at  timestamptz NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE UNIQUE INDEX extauthz_profiles_email_key ON extauthz_profiles (email);

CREATE TABLE extauthz_sessions (
    -- SHA-256 of the cookie token; the token itself is never stored.
    token_hash   bytea       PRIMARY KEY CHECK (octet_length(token_hash) = 32),
    profile_id   uuid        NOT NULL REFERENCES extauthz_profiles (id) ON DELETE CASCADE,
    identity_key text        NOT NULL,
    email        text        NOT NULL,
    app          text        NOT NULL,
    created_at   timestamptz NOT NULL,
    renewed_at   timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL
);

CREATE INDEX extauthz_sessions_profile_id_idx ON extauthz_sessions (profile_id);
CREATE INDEX extauthz_sessions_expires_at_idx ON extauthz_sessions (expires_at);

CREATE TABLE extauthz_access_tokens (
    -- SHA-256 of the presented credential.
    token_hash  bytea       PRIMARY KEY CHECK (octet_length(token_hash) = 32),
    profile_id  uuid        NOT NULL REFERENCES extauthz_profiles (id) ON DELETE CASCADE,
    name        text        NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NULL,
    revoked_at  timestamptz NULL
);

CREATE INDEX extauthz_access_tokens_profile_id_idx ON extauthz_access_tokens (profile_id);
