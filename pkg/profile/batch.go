package profile

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/extauthz/extauthz/pkg/authz"
	"github.com/extauthz/extauthz/pkg/store/pgerr"
)

// Batched lookups. A burst of people nobody has cached (Monday 9:00, a
// rollout, a flood of unknown emails) would otherwise be one query per
// email. Lookups that arrive within a short linger, or while earlier
// batches are in flight, go as one query, WHERE email = ANY($1), and each
// caller gets its own row or authz.ErrNotFound (which the cache in front
// keeps as a negative entry). A batch the server refuses is run again one
// email at a time, so that an error belongs to the lookup that caused it;
// a transient failure (the database is down) fails every lookup of the
// batch, as it would have failed each alone.

const (
	lookupLinger   = 100 * time.Microsecond
	lookupMaxBatch = 256
	lookupFlushers = 4
	lookupTimeout  = 10 * time.Second // a batch whose callers carry no deadline
)

type lookupResult struct {
	p   authz.Profile
	err error
}

// waiter is everyone looking up one email.
type waiter struct {
	chans    []chan lookupResult
	deadline time.Time // the latest of the callers' deadlines
}

// lookups batches LookupProfile.
type lookups struct {
	pool     *pgxpool.Pool
	linger   time.Duration
	maxBatch int

	mu         sync.Mutex
	waiting    map[string]*waiter
	queue      []string // emails in arrival order
	running    int
	collecting bool
	full       chan struct{}

	batches, fallbacks atomic.Uint64
}

func newLookups(pool *pgxpool.Pool) *lookups {
	return &lookups{pool: pool, linger: lookupLinger, maxBatch: lookupMaxBatch, waiting: map[string]*waiter{}, full: make(chan struct{}, 1)}
}

// lookup returns the profile of email from the next batch.
func (l *lookups) lookup(ctx context.Context, email string) (authz.Profile, error) {
	if err := ctx.Err(); err != nil {
		return authz.Profile{}, pgerr.Wrap("profile: lookup", err)
	}
	d, ok := ctx.Deadline()
	if !ok {
		d = time.Now().Add(lookupTimeout)
	}
	ch := make(chan lookupResult, 1)
	l.mu.Lock()
	w := l.waiting[email]
	if w == nil {
		w = &waiter{}
		l.waiting[email] = w
		l.queue = append(l.queue, email)
	}
	w.chans = append(w.chans, ch)
	if d.After(w.deadline) {
		w.deadline = d
	}
	start := !l.collecting && l.running < lookupFlushers
	if start {
		l.collecting = true
		l.running++
	} else if l.collecting && len(l.queue) >= l.maxBatch {
		select {
		case l.full <- struct{}{}:
		default:
		}
	}
	l.mu.Unlock()
	if start {
		go l.flush()
	}
	select {
	case r := <-ch:
		return r.p, r.err
	case <-ctx.Done():
		return authz.Profile{}, pgerr.Wrap("profile: lookup", ctx.Err())
	}
}

// flush lingers for company, then runs batches until none is queued.
func (l *lookups) flush() {
	if l.linger > 0 {
		t := time.NewTimer(l.linger)
		select {
		case <-t.C:
		case <-l.full:
			t.Stop()
		}
	}
	first := true
	for {
		l.mu.Lock()
		if first {
			l.collecting, first = false, false
		}
		n := min(len(l.queue), l.maxBatch)
		if n == 0 {
			l.running--
			l.mu.Unlock()
			return
		}
		emails := make([]string, n)
		copy(emails, l.queue[:n])
		l.queue = append(l.queue[:0], l.queue[n:]...)
		ws := make([]*waiter, n)
		for i, e := range emails {
			ws[i] = l.waiting[e]
			delete(l.waiting, e)
		}
		l.mu.Unlock()
		l.run(emails, ws)
	}
}

// run looks emails up in one query and answers their waiters.
func (l *lookups) run(emails []string, ws []*waiter) {
	last := ws[0].deadline
	for _, w := range ws {
		if w.deadline.After(last) {
			last = w.deadline
		}
	}
	ctx, cancel := context.WithDeadline(context.Background(), last)
	defer cancel()
	if len(emails) > 1 {
		l.batches.Add(1)
	}
	found, err := l.query(ctx, emails)
	var refused *pgconn.PgError
	if err != nil && len(emails) > 1 && errors.As(err, &refused) && !pgerr.Unavailable(err) {
		l.fallbacks.Add(1)
		for i, e := range emails {
			l.run([]string{e}, ws[i:i+1])
		}
		return
	}
	for i := range emails {
		r := lookupResult{err: pgerr.Wrap("profile: lookup", err)}
		if err == nil {
			p, ok := found[i]
			r = lookupResult{p: p}
			if !ok {
				r.err = fmt.Errorf("profile: lookup: %w", authz.ErrNotFound)
			}
		}
		for _, ch := range ws[i].chans {
			ch <- r
		}
	}
}

// query returns the profiles of emails that exist, by their index in
// emails (matched by the database's own equality, as a lookup of one
// email would be).
func (l *lookups) query(ctx context.Context, emails []string) (map[int]authz.Profile, error) {
	rows, err := l.pool.Query(ctx, `SELECT q.ord, x.* FROM unnest($1::text[]) WITH ORDINALITY AS q(e, ord)
		CROSS JOIN LATERAL (SELECT `+columns+` FROM extauthz_profiles WHERE email = q.e) x`, emails)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	found := make(map[int]authz.Profile, len(emails))
	for rows.Next() {
		var (
			ord int64
			p   authz.Profile
		)
		if err := rows.Scan(&ord, &p.ID, &p.Email, &p.Name, &p.Active, &p.Blocked, &p.Deleted, &p.Modified, &p.RegisteredBy); err != nil {
			return nil, err
		}
		p.Modified = p.Modified.UTC()
		found[int(ord)-1] = p
	}
	return found, rows.Err()
}
