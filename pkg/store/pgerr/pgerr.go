package pgerr

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/puddle/v2"

	"github.com/extauthz/extauthz/pkg/authz"
)

// Classify returns err wrapped with authz.ErrNotFound or authz.ErrUnavailable
// when one applies (see the package documentation), else err itself. It
// returns nil for nil.
func Classify(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, authz.ErrNotFound), errors.Is(err, authz.ErrUnavailable):
		return err
	case errors.Is(err, pgx.ErrNoRows):
		return fmt.Errorf("%w: %w", authz.ErrNotFound, err)
	case Unavailable(err):
		return fmt.Errorf("%w: %w", authz.ErrUnavailable, err)
	}
	return err
}

// Wrap classifies err and prefixes op ("profile: lookup"); nil stays nil.
func Wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", op, Classify(err))
}

// Unavailable reports whether err means the database could not answer now.
func Unavailable(err error) bool {
	// Any failure to connect counts, even one the server explained (a wrong
	// password after a rotation): the cache may still answer, and nothing
	// about the request is wrong.
	var connectErr *pgconn.ConnectError
	if errors.As(err, &connectErr) {
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return transientState(pgErr.Code)
	}
	var netErr net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, context.Canceled),
		errors.Is(err, io.EOF),
		errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, net.ErrClosed),
		errors.Is(err, puddle.ErrClosedPool),
		errors.Is(err, pgconn.ErrConnClosed),
		errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.ECONNABORTED),
		errors.Is(err, syscall.EPIPE),
		errors.Is(err, syscall.ETIMEDOUT),
		errors.Is(err, syscall.EHOSTUNREACH),
		errors.Is(err, syscall.ENETUNREACH),
		errors.As(err, &netErr),
		pgconn.Timeout(err),
		pgconn.SafeToRetry(err):
		return true
	}
	return false
}

// transientState reports whether a SQLSTATE means "the server cannot answer
// now, try again" rather than "this request is wrong".
func transientState(code string) bool {
	if len(code) == 5 && code[:2] == "08" { // connection exception
		return true
	}
	switch code {
	case "57P01", // admin_shutdown
		"57P02", // crash_shutdown
		"57P03", // cannot_connect_now
		"57P05", // idle_session_timeout
		"53300", // too_many_connections
		"57014", // query_canceled (statement_timeout, cancel request)
		"55P03", // lock_not_available (lock_timeout)
		"40001", // serialization_failure
		"40P01", // deadlock_detected
		"25006": // read_only_sql_transaction: a standby during failover
		return true
	}
	return false
}
