package notify_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/extauthz/extauthz/internal/pgtest"
	"github.com/extauthz/extauthz/pkg/cookie"
	"github.com/extauthz/extauthz/pkg/store/notify"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func TestPayloadRoundTrip(t *testing.T) {
	t.Parallel()
	h := cookie.Hash(sha256.Sum256([]byte("x")))
	for _, e := range []notify.Event{
		notify.Profile("0b0c7a4e-0000-4000-8000-000000000001", "a@example.com"),
		notify.Session(h),
		notify.Token(h),
		notify.Logout("https://idp", "sub-a", "sid-1", time.UnixMicro(1), time.UnixMicro(2)),
		notify.Logout("https://idp", "sub-a", "", time.UnixMicro(1), time.UnixMicro(2)),
	} {
		got, err := notify.Parse(e.Payload())
		if err != nil || got != e {
			t.Errorf("Parse(%s) = %+v, %v", e.Payload(), got, err)
		}
	}
	if got := notify.Session(h).Payload(); got != `{"kind":"session","hash":"`+h.String()+`"}` {
		t.Errorf("session payload %s", got)
	}
	if hh, err := notify.Session(h).TokenHash(); err != nil || hh != h {
		t.Errorf("TokenHash = %v, %v", hh, err)
	}
}

func TestParseRejects(t *testing.T) {
	t.Parallel()
	for _, p := range []string{
		``, `{`, `[]`, `{"kind":"nope","id":"x"}`, `{"kind":"profile"}`,
		`{"kind":"session"}`, `{"kind":"session","hash":"abc"}`, `{"kind":"token","hash":"zz"}`,
		`{"kind":"logout","sub":"a","until":2}`, `{"kind":"logout","iss":"i","until":2}`, `{"kind":"logout","iss":"i","sid":"s"}`,
	} {
		if _, err := notify.Parse(p); !errors.Is(err, notify.ErrBadPayload) {
			t.Errorf("Parse(%q) = %v, want ErrBadPayload", p, err)
		}
	}
	// Unknown fields are ignored (the payload may grow).
	if _, err := notify.Parse(`{"kind":"profile","id":"x","future":1}`); err != nil {
		t.Errorf("unknown field: %v", err)
	}
}

func TestPublishDeliversAtCommitOnly(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dbURL := pgtest.URL(t)
	listener, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer listener.Close(context.Background())
	if _, err := listener.Exec(ctx, "LISTEN "+notify.Channel); err != nil {
		t.Fatal(err)
	}
	pool := pgtest.PoolFor(t, dbURL)
	h := cookie.Hash(sha256.Sum256([]byte("y")))

	// Rolled back: nothing is delivered.
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := notify.Publish(ctx, tx, notify.Token(h)); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	// Committed: both arrive, in order.
	want := []notify.Event{notify.Profile("id-1", "a@example.com"), notify.Session(h)}
	if err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { return notify.Publish(ctx, tx, want...) }); err != nil {
		t.Fatal(err)
	}
	for _, w := range want {
		n, err := listener.WaitForNotification(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got, err := notify.Parse(n.Payload)
		if err != nil || got != w || n.Channel != notify.Channel {
			t.Fatalf("got %s on %s (%v), want %+v", n.Payload, n.Channel, err, w)
		}
	}
	if err := notify.Publish(ctx, pool); err != nil {
		t.Errorf("Publish with no events: %v", err)
	}
}

func TestParseStamped(t *testing.T) {
	t.Parallel()
	h := cookie.Hash(sha256.Sum256([]byte("z")))
	// Unstamped (an older publisher, a manual pg_notify): zero time.
	e, at, err := notify.ParseStamped(notify.Session(h).Payload())
	if err != nil || e != notify.Session(h) || !at.IsZero() {
		t.Errorf("unstamped: %+v, %v, %v", e, at, err)
	}
	e, at, err = notify.ParseStamped(`{"kind":"token","hash":"` + h.String() + `","at":1700000000123456}`)
	if err != nil || e != notify.Token(h) || !at.Equal(time.UnixMicro(1700000000123456)) {
		t.Errorf("stamped: %+v, %v, %v", e, at, err)
	}
	if _, _, err := notify.ParseStamped(`{"kind":"session"}`); !errors.Is(err, notify.ErrBadPayload) {
		t.Errorf("bad payload: %v", err)
	}
}

func TestPublishStamps(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dbURL := pgtest.URL(t)
	listener, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer listener.Close(context.Background())
	if _, err := listener.Exec(ctx, "LISTEN "+notify.Channel); err != nil {
		t.Fatal(err)
	}
	before := time.Now().Truncate(time.Microsecond)
	if err := notify.Publish(ctx, pgtest.PoolFor(t, dbURL), notify.Profile("id-2", "b@example.com")); err != nil {
		t.Fatal(err)
	}
	n, err := listener.WaitForNotification(ctx)
	if err != nil {
		t.Fatal(err)
	}
	e, at, err := notify.ParseStamped(n.Payload)
	if err != nil || e != notify.Profile("id-2", "b@example.com") || at.Before(before) || at.After(time.Now()) {
		t.Errorf("ParseStamped(%s) = %+v, %v, %v", n.Payload, e, at, err)
	}
}

// TestSessionPayloadSQL: the payload a statement renders in SQL is the
// event and stamp Publish would have sent.
func TestSessionPayloadSQL(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool := pgtest.Pool(t)
	h := cookie.Hash(sha256.Sum256([]byte("payload")))
	const at = 1_700_000_000_123_456
	var payload string
	if err := pool.QueryRow(ctx, `SELECT `+notify.SessionPayloadSQL("$1::bytea", "$2"), h[:], int64(at)).Scan(&payload); err != nil {
		t.Fatal(err)
	}
	e, stamp, err := notify.ParseStamped(payload)
	if err != nil || e != notify.Session(h) || stamp.UnixMicro() != at {
		t.Errorf("ParseStamped(%s) = %+v, %v, %v", payload, e, stamp, err)
	}
}
