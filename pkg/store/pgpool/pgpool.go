// Package pgpool opens the PostgreSQL connection pools of extauthz with the
// two settings a request path under a deadline needs, and warms them.
//
//   - A query whose context ends is cancelled on the server (a cancel
//     request), and its connection is kept. pgx's default closes the
//     connection at once by setting a past deadline on the socket; under
//     load every timed-out lookup then cost a connection, and the next
//     requests waited for new ones to be opened, past their own deadline:
//     one slow moment became a burst of 503s.
//   - MinConns connections are opened and verified by Warm before the
//     service reports ready, so a fresh replica's first burst finds them
//     open.
package pgpool

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Options configures Open.
type Options struct {
	URL      string
	MaxConns int // 0: pgx's default
	MinConns int // kept open; Warm opens them
	// CancelGrace is how long a query whose context ended may take to
	// return after the cancel request is sent, before its connection is
	// given up (the socket deadline). 0 keeps pgx's default: close at once.
	CancelGrace time.Duration
}

// ErrBadURL reports a database URL that cannot be parsed. The URL itself is
// never part of the error: it may hold a password.
var ErrBadURL = errors.New("cannot be parsed")

// Config returns the pgxpool configuration for o.
func Config(o Options) (*pgxpool.Config, error) {
	pcfg, err := pgxpool.ParseConfig(o.URL)
	if err != nil {
		return nil, ErrBadURL
	}
	if o.MaxConns > 0 {
		pcfg.MaxConns = int32(o.MaxConns)
	}
	if o.MinConns > 0 {
		pcfg.MinConns = int32(min(o.MinConns, int(pcfg.MaxConns)))
	}
	if grace := o.CancelGrace; grace > 0 {
		pcfg.ConnConfig.BuildContextWatcherHandler = func(c *pgconn.PgConn) ctxwatch.Handler {
			return &pgconn.CancelRequestContextWatcherHandler{Conn: c, DeadlineDelay: grace}
		}
	}
	return pcfg, nil
}

// Open returns a pool for o. Like pgxpool.NewWithConfig it connects lazily:
// call Warm before reporting ready.
func Open(ctx context.Context, o Options) (*pgxpool.Pool, error) {
	pcfg, err := Config(o)
	if err != nil {
		return nil, err
	}
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("opening database pool: %w", err)
	}
	return pool, nil
}

// Warm opens the pool's MinConns connections at once and verifies each with
// a round trip. It returns the first error; connections it opened stay in
// the pool either way.
func Warm(ctx context.Context, pool *pgxpool.Pool) error {
	n := int(pool.Config().MinConns)
	if n == 0 {
		n = 1 // at least prove the database answers
	}
	conns := make([]*pgxpool.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Release()
		}
	}()
	errs := make(chan error, n)
	got := make(chan *pgxpool.Conn, n)
	for range n {
		go func() {
			c, err := pool.Acquire(ctx)
			if err == nil {
				err = c.Ping(ctx)
				if err != nil {
					c.Release()
				}
			}
			if err != nil {
				errs <- err
				return
			}
			got <- c
		}()
	}
	var first error
	for range n {
		select {
		case c := <-got:
			conns = append(conns, c)
		case err := <-errs:
			if first == nil {
				first = fmt.Errorf("warming the database pool: %w", err)
			}
		}
	}
	return first
}
