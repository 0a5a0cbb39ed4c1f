// Package token keeps extauthz's programmatic access tokens: credentials a
// script or API client presents instead of a browser session (decision-table rows
// 1–2). A token is shown once, when it is created; only its SHA-256 is
// stored. Postgres and Memory implement authz.AccessTokenStore and pass the
// same contract tests. Errors wrap authz.ErrNotFound or authz.ErrUnavailable.
package token
