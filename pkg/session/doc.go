// Package session provides the server-side session stores: Postgres, over
// the built-in extauthz_sessions table (see pkg/store/migrations), and
// Memory, for running without a database (nothing persists).
//
// Both implement authz.SessionStore plus the administration and
// housekeeping methods below, with the same semantics (one contract suite,
// sessiontest, runs against both):
//
//   - GetSession returns the session for a token hash, expired ones
//     included (the caller judges liveness), or an error wrapping
//     authz.ErrNotFound. Postgres errors are classified once by
//     pkg/store/pgerr, so transient failures wrap authz.ErrUnavailable.
//   - ReplaceSession deletes the old session (when the hash is non-zero; a
//     missing row is fine) and creates the next one, atomically: in one
//     transaction, so a failure leaves the old session in place. The next
//     session needs a non-zero hash and a UUID profile id (ErrInvalid
//     otherwise); Postgres also needs that profile to exist (foreign key).
//     Creating a hash that exists fails (a permanent error).
//   - DeleteSession deletes a session; a missing row is fine.
//   - RenewSession sets renewed_at and expires_at of a session that is live
//     at renewedAt (expires_at > renewedAt), else fails with
//     authz.ErrNotFound: a renewal never resurrects an expired or deleted
//     (re-keyed, flushed, revoked) session.
//   - ListByProfile returns a profile's sessions, expired ones included,
//     ordered by creation time then hash; RevokeByProfile deletes them all
//     and returns how many. An unknown or malformed profile id has none.
//   - DeleteExpired deletes sessions with expires_at <= before, batch rows
//     per statement (so no statement holds many locks; concurrent replicas
//     skip each other's rows), until none is left, and returns the total.
//   - Logout records an OpenID Connect back-channel logout: its (issuer,
//     jti) once (a second time is ErrReplay and changes nothing), the
//     logout itself (Logouts lists those kept at a time, for every
//     replica's ledger), and deletes the sessions made from that issuer's
//     tokens with its sid (and those of its subject made from a token
//     without a sid) — or, when it names none, of its subject — in every
//     app, returning how many. DeleteExpiredLogouts forgets logouts and
//     jtis whose time is up. Sessions carry the token's iss, sub and sid
//     (authz.Session.Issuer, Subject, SID; migration 0006).
//
// Times come back in UTC at microsecond precision (PostgreSQL's), both
// stores; profile ids in canonical lower-case UUID form.
//
// Postgres group-commits ReplaceSession, RenewSession and DeleteSession:
// the writes of concurrent requests that arrive within a short linger
// (200µs) or while earlier batches are in flight share two round trips
// (BEGIN and the statements, then COMMIT) and one transaction (see
// batch.go). Each write's outcome and error is still
// its own: a batch the server refuses is run again one write at a time.
// Durability is unchanged (the commit is as synchronous as the server
// makes it).
//
// Every Postgres write that can change a decision publishes, in its own
// transaction, a pkg/store/notify session event for each session it
// deleted, replaced, renewed or revoked, and Logout a logout event beside
// them. Garbage collection publishes
// nothing: an expired session is dead everywhere already.
//
// Memory is for trials. It is bounded when created with a limit: creating a
// session beyond it evicts an expired session if there is one, else the
// least recently used session of the profile that would hold the most
// (counting the new one), so a client that creates sessions in a loop
// evicts its own and not a quiet user's; least recently used profile first
// among equals. Every stored session is bound to a profile (there are no
// anonymous ones to sacrifice first). An evicted browser is re-keyed on its
// next request.
package session
