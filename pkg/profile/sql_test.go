package profile_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/extauthz/extauthz/internal/pgtest"
	"github.com/extauthz/extauthz/pkg/authz"
	"github.com/extauthz/extauthz/pkg/profile"
)

// penpotSchema is shaped like Penpot's own profile table.
const penpotSchema = `
CREATE TABLE profile (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email      text NOT NULL UNIQUE,
    fullname   text NOT NULL DEFAULT '',
    is_active  boolean NOT NULL DEFAULT false,
    is_blocked boolean NOT NULL DEFAULT false,
    deleted_at timestamptz NULL
);
INSERT INTO profile (id, email, fullname, is_active, is_blocked, deleted_at) VALUES
  ('11111111-1111-4111-8111-111111111111', 'alice@example.com', 'Alice', true, false, NULL),
  ('22222222-2222-4222-8222-222222222222', 'a_b@example.com', 'Under Score', true, false, NULL),
  ('33333333-3333-4333-8333-333333333333', 'blocked@example.com', 'B', true, true, NULL),
  ('44444444-4444-4444-8444-444444444444', 'gone@example.com', 'G', true, false, now());
`

const (
	penpotQuery    = `SELECT id::text, is_active, is_blocked FROM profile WHERE email = $1 AND deleted_at IS NULL`
	penpotRegister = `INSERT INTO profile (email, fullname, is_active) VALUES ($1, $2, true)
	                  ON CONFLICT (email) DO NOTHING RETURNING id::text, is_active, is_blocked`
)

func penpotSource(t *testing.T, register string) *profile.SQL {
	t.Helper()
	pool := pgtest.Pool(t)
	if _, err := pool.Exec(context.Background(), penpotSchema); err != nil {
		t.Fatal(err)
	}
	src, err := profile.NewSQL(profile.SQLConfig{
		DatabaseURL: pool.Config().ConnString(), Query: penpotQuery, RegisterQuery: register, Timeout: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(src.Close)
	return src
}

func TestSQLSourceLookup(t *testing.T) {
	t.Parallel()
	src := penpotSource(t, "")
	ctx := context.Background()
	for _, tc := range []struct {
		email   string
		id      string
		blocked bool
		missing bool
	}{
		{email: "alice@example.com", id: "11111111-1111-4111-8111-111111111111"},
		{email: "a_b@example.com", id: "22222222-2222-4222-8222-222222222222"},
		{email: "axb@example.com", missing: true}, // "_" is literal: no LIKE
		{email: "a%@example.com", missing: true},
		{email: "blocked@example.com", id: "33333333-3333-4333-8333-333333333333", blocked: true},
		{email: "gone@example.com", missing: true}, // the operator's query excludes deleted rows
		{email: "nobody@example.com", missing: true},
		{email: "x' OR '1'='1", missing: true}, // parameterised: no injection
	} {
		p, err := src.LookupProfile(ctx, tc.email)
		if tc.missing {
			if !errors.Is(err, authz.ErrNotFound) {
				t.Errorf("%s: %+v, %v; want not found", tc.email, p, err)
			}
			continue
		}
		if err != nil || p.ID != tc.id || p.Blocked != tc.blocked || !p.Active || p.Email != tc.email {
			t.Errorf("%s: %+v, %v", tc.email, p, err)
		}
	}
	if _, err := src.RegisterProfile(ctx, "new@example.com", "New", "penpot"); !errors.Is(err, profile.ErrNoRegisterQuery) {
		t.Errorf("register without a register query: %v", err)
	}
}

func TestSQLSourceRegisterIsIdempotent(t *testing.T) {
	t.Parallel()
	src := penpotSource(t, penpotRegister)
	ctx := context.Background()
	var wg sync.WaitGroup
	ids := make([]string, 20)
	errs := make([]error, 20)
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, err := src.RegisterProfile(ctx, "first@example.com", "First", "penpot")
			ids[i], errs[i] = p.ID, err
		}()
	}
	wg.Wait()
	for i := range ids {
		if errs[i] != nil || ids[i] != ids[0] || ids[0] == "" {
			t.Fatalf("concurrent register #%d: %q, %v (first %q)", i, ids[i], errs[i], ids[0])
		}
	}
	p, err := src.LookupProfile(ctx, "first@example.com")
	if err != nil || p.ID != ids[0] {
		t.Fatalf("lookup after register: %+v, %v", p, err)
	}
}

func TestSQLSourceUnavailable(t *testing.T) {
	t.Parallel()
	// Nothing listens on port 1: connection refused is transient.
	src, err := profile.NewSQL(profile.SQLConfig{DatabaseURL: "postgres://u@127.0.0.1:1/db?connect_timeout=2", Query: penpotQuery})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if _, err := src.LookupProfile(context.Background(), "alice@example.com"); !authz.IsTransient(err) {
		t.Fatalf("refused connection: %v, want unavailable", err)
	}
	// A query slower than the source's timeout is transient too.
	pool := pgtest.Pool(t)
	s2, err := profile.NewSQL(profile.SQLConfig{
		DatabaseURL: pool.Config().ConnString(),
		Query:       `SELECT $1::text, true, false FROM pg_sleep(1)`, Timeout: 50 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if _, err := s2.LookupProfile(context.Background(), "alice@example.com"); !authz.IsTransient(err) {
		t.Fatalf("slow query: %v, want unavailable", err)
	}
	// A broken query is permanent.
	s3, err := profile.NewSQL(profile.SQLConfig{DatabaseURL: pool.Config().ConnString(), Query: `SELECT id FROM no_such_table WHERE email = $1`})
	if err != nil {
		t.Fatal(err)
	}
	defer s3.Close()
	if _, err := s3.LookupProfile(context.Background(), "alice@example.com"); err == nil || authz.IsTransient(err) || errors.Is(err, authz.ErrNotFound) {
		t.Fatalf("broken query: %v, want permanent", err)
	}
}
