// Package migrations owns the schema of extauthz's built-in tables
// (extauthz_profiles, extauthz_sessions, extauthz_access_tokens) as embedded,
// numbered SQL files: NNNN_description.sql, applied in ascending order.
//
// Migrate applies every pending migration, each in its own transaction that
// also records it in extauthz_schema_migrations, while holding a
// session-level advisory lock on one connection: replicas that start
// together serialise, and each later one finds nothing left to do. A failing
// migration rolls back alone; the ones before it stay applied.
//
// Version reports the highest applied version (0 for an empty database) and
// Expected the highest version this binary knows; Check, for readiness, fails
// while the database is behind. A database ahead of the binary (a newer
// replica migrated first during a rolling upgrade) counts as ready:
// migrations are written to be backward compatible for one release.
//
// Migrations are append-only: a released file is never edited.
package migrations
