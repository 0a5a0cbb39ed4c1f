package session

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/extauthz/extauthz/pkg/store/pgerr"
)

// Group commit. The session writes of concurrent requests (create, re-key,
// renew, delete) are bound by round trips and commits, not by work: each
// is a statement or two. A committer gathers the writes that arrive within
// a short linger (or while its flushers are busy) and sends BEGIN and their
// statements as one pgx.Batch, then COMMIT (see send): two round trips and
// one commit for all of them, one transaction: every write of it commits,
// or none does. Durability is what it was (the
// commit is synchronous as the server is configured); only the commit is
// shared.
//
// Errors stay per request. A write's own outcome (a renewal that found no
// live session) is read from its own statements' results. A batch the
// server refused (a constraint violation, a deadlock) committed nothing,
// so each of its writes is then run again alone, in its own transaction,
// and gets its own error; a batch whose outcome is unknown (the connection
// broke, the deadline passed) fails every write in it with that transient
// error, as it would have failed one write sent alone.

// Defaults of the committer.
const (
	defaultLinger   = 200 * time.Microsecond
	defaultMaxBatch = 64
	defaultFlushers = 4
	batchTimeout    = 10 * time.Second // a batch whose writes carry no deadline
)

// stmt is one statement of a write.
type stmt struct {
	sql  string
	args []any
}

// write is one request's change: its statements, run in order in one
// transaction, and how their command tags make its outcome.
type write struct {
	ctx     context.Context
	op      string // "session: replace", for errors
	stmts   []stmt
	outcome func(tags []pgconn.CommandTag) error // nil: success whatever the tags
	done    chan error                           // buffered: the committer never blocks on it
}

// committer runs writes in shared transactions.
type committer struct {
	pool     *pgxpool.Pool
	linger   time.Duration
	maxBatch int
	flushers int // at most this many batches in flight

	mu         sync.Mutex
	pending    []*write
	running    int  // flushers started and not yet gone
	collecting bool // a flusher is lingering for more writes
	full       chan struct{}

	batches, fallbacks atomic.Uint64 // batches of more than one write sent; of those, refused and run alone
}

func newCommitter(pool *pgxpool.Pool) *committer {
	return &committer{pool: pool, linger: defaultLinger, maxBatch: defaultMaxBatch, flushers: defaultFlushers,
		full: make(chan struct{}, 1)}
}

// do runs w in the next batch and returns its outcome, classified at the
// store boundary (pkg/store/pgerr) and prefixed with w.op.
func (c *committer) do(ctx context.Context, w *write) error {
	if err := ctx.Err(); err != nil {
		return pgerr.Wrap(w.op, err)
	}
	w.ctx, w.done = ctx, make(chan error, 1)
	c.mu.Lock()
	c.pending = append(c.pending, w)
	start := !c.collecting && c.running < c.flushers
	if start {
		c.collecting = true
		c.running++
	} else if c.collecting && len(c.pending) >= c.maxBatch {
		select {
		case c.full <- struct{}{}:
		default:
		}
	}
	c.mu.Unlock()
	if start {
		go c.flush()
	}
	select {
	case err := <-w.done:
		return pgerr.Wrap(w.op, err)
	case <-ctx.Done():
	}
	// A write still queued is withdrawn. One already taken for a batch may
	// commit: its outcome, which arrives by the batch's deadline (at the
	// latest this write's, see batchContext), is the truth the caller
	// must act on, or a re-key could commit after its request was
	// answered with the old cookie kept.
	c.mu.Lock()
	i := slices.Index(c.pending, w)
	if i >= 0 {
		c.pending = slices.Delete(c.pending, i, i+1)
	}
	c.mu.Unlock()
	if i >= 0 {
		return pgerr.Wrap(w.op, ctx.Err())
	}
	return pgerr.Wrap(w.op, <-w.done)
}

// flush lingers for company, then sends batches until nothing is pending.
// Writes that queued while it was sending have waited a round trip
// already: they go at once.
func (c *committer) flush() {
	if c.linger > 0 {
		t := time.NewTimer(c.linger)
		select {
		case <-t.C:
		case <-c.full:
			t.Stop()
		}
	}
	first := true
	for {
		c.mu.Lock()
		if first {
			c.collecting, first = false, false
		}
		n := min(len(c.pending), c.maxBatch)
		if n == 0 {
			c.running--
			c.mu.Unlock()
			return
		}
		batch := slices.Clone(c.pending[:n])
		c.pending = slices.Delete(c.pending, 0, n)
		c.mu.Unlock()
		c.run(batch)
	}
}

// minBudget is the least time to its deadline a write needs to join a
// batch: one about to expire would take the others down with it
// (batchContext). It fails alone instead, as it would have anyway.
const minBudget = 2 * time.Millisecond

// run sends batch and hands every write its outcome.
func (c *committer) run(batch []*write) {
	batch = slices.DeleteFunc(batch, func(w *write) bool {
		if err := w.ctx.Err(); err != nil {
			w.done <- err // its caller gave up before it was sent
			return true
		}
		if d, ok := w.ctx.Deadline(); ok && time.Until(d) < minBudget {
			w.done <- context.DeadlineExceeded
			return true
		}
		return false
	})
	if len(batch) == 0 {
		return
	}
	ctx, cancel := batchContext(batch)
	defer cancel()
	tags, err := c.send(ctx, batch)
	if err == nil {
		for i, w := range batch {
			w.done <- w.result(tags[i])
		}
		return
	}
	var refused *pgconn.PgError
	if len(batch) == 1 || !errors.As(err, &refused) {
		for _, w := range batch {
			w.done <- err
		}
		return
	}
	// The server refused the batch: nothing of it committed. Each write
	// alone learns whose the failure was.
	c.fallbacks.Add(1)
	var wg sync.WaitGroup
	for _, w := range batch {
		wg.Go(func() {
			tags, err := c.send(w.ctx, []*write{w})
			if err == nil {
				err = w.result(tags[0])
			}
			w.done <- err
		})
	}
	wg.Wait()
}

// result is w's outcome from its statements' tags.
func (w *write) result(tags []pgconn.CommandTag) error {
	if w.outcome == nil {
		return nil
	}
	return w.outcome(tags)
}

// send runs the writes' statements in one transaction and returns each
// write's command tags. BEGIN and the statements go as one batch (one round
// trip); COMMIT follows only if the batch's deadline leaves at least the
// time that round trip took. Sending COMMIT within the batch would put the
// commit in flight for the whole round trip: a reply delayed past the
// deadline would answer 503 for a write that committed, and a re-key would
// have deleted the session whose cookie the browser kept. Now only the
// COMMIT's own round trip can race the deadline, as with one write alone.
func (c *committer) send(ctx context.Context, batch []*write) ([][]pgconn.CommandTag, error) {
	if len(batch) > 1 {
		c.batches.Add(1)
	}
	conn, err := c.pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Release() // a connection left inside a transaction is closed, not reused
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	for _, w := range batch {
		for _, s := range w.stmts {
			b.Queue(s.sql, s.args...)
		}
	}
	sent := time.Now()
	tags, err := readBatch(conn.SendBatch(ctx, b), batch)
	if err != nil {
		rollback(conn)
		return tags, err
	}
	if d, ok := ctx.Deadline(); ok && time.Until(d) < time.Since(sent) {
		rollback(conn)
		return tags, context.DeadlineExceeded
	}
	if _, err := conn.Exec(ctx, "COMMIT"); err != nil {
		return tags, err
	}
	return tags, nil
}

// readBatch reads BEGIN's result and then each write's command tags.
func readBatch(br pgx.BatchResults, batch []*write) ([][]pgconn.CommandTag, error) {
	_, first := br.Exec() // BEGIN
	tags := make([][]pgconn.CommandTag, len(batch))
	for i, w := range batch {
		tags[i] = make([]pgconn.CommandTag, len(w.stmts))
		for j := range w.stmts {
			tag, err := br.Exec()
			if err != nil && first == nil {
				first = err
			}
			tags[i][j] = tag
		}
	}
	if err := br.Close(); err != nil && first == nil {
		first = err
	}
	return tags, first
}

// rollback ends the open transaction of conn, best effort: a connection
// it fails on is not reused (pgxpool closes one released inside a
// transaction).
func rollback(conn *pgxpool.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, _ = conn.Exec(ctx, "ROLLBACK")
}

// batchContext bounds a batch by the earliest deadline of its writes,
// without any one caller's cancellation. A write must not commit after its
// caller gave up at its deadline: the request was answered 503, and the
// browser kept the cookie of the session the write replaced. So a batch
// that outlives one of its writes' deadlines fails as a whole (nothing of
// it commits), as each write alone would have near that moment.
func batchContext(batch []*write) (context.Context, context.CancelFunc) {
	first := time.Now().Add(batchTimeout)
	for _, w := range batch {
		if d, ok := w.ctx.Deadline(); ok && d.Before(first) {
			first = d
		}
	}
	return context.WithDeadline(context.Background(), first)
}
