-- Identity tokens (identity_jwt) and OpenID Connect Back-Channel Logout.
-- A session records the verified token's issuer, subject and IdP session
-- id ('' without identity_jwt), so that a logout names the sessions to
-- revoke in every app.
ALTER TABLE extauthz_sessions
    ADD COLUMN iss text NOT NULL DEFAULT '',
    ADD COLUMN sub text NOT NULL DEFAULT '',
    ADD COLUMN sid text NOT NULL DEFAULT '';

CREATE INDEX extauthz_sessions_sid_idx ON extauthz_sessions (iss, sid) WHERE sid <> '';
CREATE INDEX extauthz_sessions_sub_idx ON extauthz_sessions (iss, sub) WHERE sub <> '';

-- Logouts the issuer sent: a token of a logged-out sid, or of a logged-out
-- subject issued at or before logged_out_at (the logout token's iat), no
-- longer counts. Every replica holds them in memory; rows go at
-- expires_at.
CREATE TABLE extauthz_oidc_logouts (
    iss           text        NOT NULL,
    sub           text        NOT NULL DEFAULT '',
    sid           text        NOT NULL DEFAULT '',
    logged_out_at timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL,
    CHECK (sub <> '' OR sid <> '')
);

CREATE INDEX extauthz_oidc_logouts_expires_at_idx ON extauthz_oidc_logouts (expires_at);

-- Logout token ids seen, so that each is used once across replicas.
CREATE TABLE extauthz_oidc_jtis (
    iss        text        NOT NULL,
    jti        text        NOT NULL,
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (iss, jti)
);

CREATE INDEX extauthz_oidc_jtis_expires_at_idx ON extauthz_oidc_jtis (expires_at);
