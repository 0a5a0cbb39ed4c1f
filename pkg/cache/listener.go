package cache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/extauthz/extauthz/pkg/outage"
	"github.com/extauthz/extauthz/pkg/store/notify"
)

// Gauge and Observer are what the listener reports on (prometheus.Gauge
// and prometheus.Histogram fit).
type (
	Gauge    interface{ Set(float64) }
	Observer interface{ Observe(float64) }
)

// ListenerConfig wires a Listener.
type ListenerConfig struct {
	// DatabaseURL is where to LISTEN. The listener holds its own
	// connection, outside any pool. A secret: never logged.
	DatabaseURL string
	// Caches are dropped from as events arrive, and purged on every
	// (re)connect.
	Caches []Invalidator
	// Log receives state changes; nil discards. A lost or failing feed is
	// a WARN with the cause at once and at most every 30 s while it lasts;
	// connecting again is an INFO with outage_seconds.
	Log *slog.Logger
	// Now is the clock of those reports; nil is time.Now.
	Now func() time.Time
	// Up is set to 1 while the feed is connected, 0 otherwise (optional).
	Up Gauge
	// Feed, if set, is told when the feed connects, delivers and is lost,
	// for the caches' lifetimes (see Feed).
	Feed *Feed
	// Lag observes, in seconds, publish-to-eviction time of stamped events
	// (optional).
	Lag Observer
	// MinBackoff and MaxBackoff bound the reconnect delay, which doubles
	// per failed attempt (defaults 100ms and 10s).
	MinBackoff, MaxBackoff time.Duration
	// Keepalive is how long the connection may stay silent before the
	// listener pings it, so a dead peer is noticed (default 15s).
	Keepalive time.Duration
}

// ApplicationName names the listener's connection in pg_stat_activity
// (unless the URL sets application_name).
const ApplicationName = "extauthz change feed"

// Listener follows the change feed (notify.Channel) on a dedicated
// connection and evicts what each event names. While it is down, the caches
// keep answering within their TTL; when it connects again it purges them,
// since events may have been missed.
type Listener struct {
	cfg    ListenerConfig
	report *outage.Reporter

	up       atomic.Bool
	connects atomic.Uint64
	events   atomic.Uint64

	mu        sync.Mutex
	lastErr   error
	downSince time.Time
}

// NewListener returns a listener; Run starts it.
func NewListener(cfg ListenerConfig) *Listener {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 100 * time.Millisecond
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 10 * time.Second
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = cfg.MinBackoff
	}
	if cfg.Keepalive <= 0 {
		cfg.Keepalive = 15 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	l := &Listener{cfg: cfg, downSince: cfg.Now(), lastErr: errors.New("not connected yet")}
	l.report = outage.New(outage.Config{
		Log: cfg.Log, Now: cfg.Now,
		Down: "change feed down; caches fall back to their TTL until it reconnects",
		Up:   "change feed connected again; caches purged",
	}, "channel", notify.Channel)
	l.setUp(false)
	return l
}

// Up reports whether the feed is connected (and the caches were purged
// since it connected).
func (l *Listener) Up() bool { return l.up.Load() }

// Connects counts successful (re)connections.
func (l *Listener) Connects() uint64 { return l.connects.Load() }

// Events counts events applied.
func (l *Listener) Events() uint64 { return l.events.Load() }

// Ready is a readiness check: nil while connected, else why not. Meant as an
// optional check: without the feed the caches still answer within their
// TTL.
func (l *Listener) Ready(context.Context) error {
	if l.up.Load() {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return fmt.Errorf("change feed down for %s (caches fall back to their TTL): %v",
		l.cfg.Now().Sub(l.downSince).Round(time.Millisecond), l.lastErr)
}

func (l *Listener) setUp(up bool) {
	l.up.Store(up)
	if l.cfg.Feed != nil {
		if up {
			l.cfg.Feed.connected(l.cfg.Now())
		} else {
			l.cfg.Feed.lost()
		}
	}
	if l.cfg.Up != nil {
		if up {
			l.cfg.Up.Set(1)
		} else {
			l.cfg.Up.Set(0)
		}
	}
}

func (l *Listener) down(err error) {
	wasUp := l.up.Load()
	l.setUp(false)
	l.mu.Lock()
	l.lastErr = err
	if wasUp {
		l.downSince = l.cfg.Now()
	}
	l.mu.Unlock()
	if !wasUp {
		l.cfg.Log.Debug("change feed: connect failed", "err", err)
	}
	l.report.Fail(err, "was_connected", wasUp)
}

// alive tells the caches' Feed that the feed just delivered.
func (l *Listener) alive() {
	if l.cfg.Feed != nil {
		l.cfg.Feed.alive(l.cfg.Now())
	}
}

// Run follows the feed until ctx ends, reconnecting with capped exponential
// backoff. It returns nil when ctx ends.
func (l *Listener) Run(ctx context.Context) error {
	backoff := l.cfg.MinBackoff
	for {
		err := l.session(ctx)
		if ctx.Err() != nil {
			l.setUp(false)
			return nil
		}
		if l.up.Load() {
			backoff = l.cfg.MinBackoff // it was connected: start over
		}
		l.down(err)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		backoff = min(backoff*2, l.cfg.MaxBackoff)
	}
}

// session connects, listens, purges, then applies events until the
// connection fails.
func (l *Listener) session(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	var conn *pgx.Conn
	ccfg, err := pgx.ParseConfig(l.cfg.DatabaseURL)
	if err == nil {
		if _, set := ccfg.RuntimeParams["application_name"]; !set {
			ccfg.RuntimeParams["application_name"] = ApplicationName
		}
		conn, err = pgx.ConnectConfig(cctx, ccfg)
	}
	if err == nil {
		_, err = conn.Exec(cctx, "LISTEN "+pgx.Identifier{notify.Channel}.Sanitize())
	}
	cancel()
	if err != nil {
		if conn != nil {
			closeConn(conn)
		}
		return fmt.Errorf("listen: %w", err)
	}
	defer closeConn(conn)
	// Listening from here on: whatever changed before is dropped now, so
	// nothing missed while down (or before the first connect) survives.
	for _, c := range l.cfg.Caches {
		c.Purge()
	}
	l.connects.Add(1)
	l.setUp(true)
	if !l.report.OK() { // else it logged the reconnect
		l.cfg.Log.Info("change feed connected; caches purged", "channel", notify.Channel)
	}
	for {
		wctx, wcancel := context.WithTimeout(ctx, l.cfg.Keepalive)
		n, err := conn.WaitForNotification(wctx)
		wcancel()
		switch {
		case err == nil:
			l.apply(n.Payload)
			l.alive()
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, context.DeadlineExceeded) && !conn.IsClosed():
			// Silent for a while: make sure the peer is still there.
			pctx, pcancel := context.WithTimeout(ctx, 5*time.Second)
			err := conn.Ping(pctx)
			pcancel()
			if err != nil {
				return fmt.Errorf("keepalive: %w", err)
			}
			l.alive()
		default:
			return fmt.Errorf("wait: %w", err)
		}
	}
}

// apply evicts what one payload names. A payload that is not an event
// purges everything: it may have named anything.
func (l *Listener) apply(payload string) {
	ev, at, err := notify.ParseStamped(payload)
	if err != nil {
		l.cfg.Log.Warn("change feed: unreadable event; purging caches", "err", err)
		for _, c := range l.cfg.Caches {
			c.Purge()
		}
		return
	}
	for _, c := range l.cfg.Caches {
		c.Invalidate(ev)
	}
	l.events.Add(1)
	if l.cfg.Lag != nil && !at.IsZero() {
		// Clocks of different hosts may disagree a little; a negative lag
		// is recorded as zero.
		l.cfg.Lag.Observe(max(time.Since(at), 0).Seconds())
	}
}

func closeConn(c *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = c.Close(ctx)
}
