// Package pgerr classifies PostgreSQL (pgx v5) errors, once, at the store
// boundary, into the errors pkg/authz decides on.
//
// Classify (and Wrap, which adds an operation name) returns an error that
// wraps the original error and, when it applies, one of:
//
//   - authz.ErrNotFound: pgx.ErrNoRows — the database answered, nothing there.
//   - authz.ErrUnavailable: the database could not answer now. Connection
//     refused, reset or closed; network errors and timeouts; io.EOF and
//     io.ErrUnexpectedEOF mid-query; context.DeadlineExceeded and
//     context.Canceled; a closed pool; any *pgconn.ConnectError (even one
//     carrying a server error such as a rejected password: nothing about the
//     request is wrong, and a cache may still answer); any error pgconn marks
//     safe to retry; and the SQLSTATEs of class 08 (connection exception),
//     57P01 admin_shutdown, 57P02 crash_shutdown, 57P03 cannot_connect_now,
//     57P05 idle_session_timeout, 53300 too_many_connections, plus those that
//     mean "try again": 57014 query_canceled (statement_timeout), 55P03
//     lock_not_available, 40001 serialization_failure, 40P01
//     deadlock_detected and 25006 read_only_sql_transaction (a failover in
//     progress).
//
// Anything else is permanent and returned unchanged (a constraint violation,
// a syntax error, an invalid value). An error that already wraps ErrNotFound
// or ErrUnavailable is returned as is, so classifying twice is harmless.
package pgerr
