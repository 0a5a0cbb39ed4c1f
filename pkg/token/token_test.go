package token_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/extauthz/extauthz/internal/pgtest"
	"github.com/extauthz/extauthz/pkg/authz"
	"github.com/extauthz/extauthz/pkg/cookie"
	"github.com/extauthz/extauthz/pkg/profile"
	"github.com/extauthz/extauthz/pkg/token"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// store is what both implementations offer.
type store interface {
	authz.AccessTokenStore
	Create(ctx context.Context, profileID, name string, expires time.Time) (token.Issued, error)
	Revoke(ctx context.Context, tok string) error
	List(ctx context.Context, profileID string) ([]authz.AccessToken, error)
}

// contract runs the same tests on every implementation; owner is a live
// profile of the store's profile source, blockOwner blocks it.
func contract(t *testing.T, s store, owner string, blockOwner func()) {
	ctx := context.Background()
	issued, err := s.Create(ctx, owner, "ci", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(issued.Token, token.Prefix) || len(issued.Token) != len(token.Prefix)+43 {
		t.Fatalf("token %q", issued.Token)
	}
	got, err := s.LookupAccessToken(ctx, cookie.HashString(issued.Token))
	if err != nil || got.ProfileID != owner || got.Name != "ci" || !got.Valid(time.Now()) || got.Profile.ID != owner || !got.Profile.Active {
		t.Fatalf("lookup: %+v, %v", got, err)
	}
	if _, err := s.LookupAccessToken(ctx, cookie.HashString("xat_nope")); !errors.Is(err, authz.ErrNotFound) {
		t.Fatalf("unknown token: %v", err)
	}
	short, err := s.Create(ctx, owner, "short", time.Now().Add(-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := s.LookupAccessToken(ctx, short.Hash); got.Valid(time.Now()) {
		t.Fatal("expired token is valid")
	}
	list, err := s.List(ctx, owner)
	if err != nil || len(list) != 2 {
		t.Fatalf("list: %d, %v", len(list), err)
	}
	if err := s.Revoke(ctx, issued.Token); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.LookupAccessToken(ctx, issued.Hash); got.Valid(time.Now()) || !got.Revoked {
		t.Fatal("revoked token is valid")
	}
	if err := s.Revoke(ctx, issued.Token); !errors.Is(err, authz.ErrNotFound) {
		t.Fatalf("second revoke: %v", err)
	}
	blockOwner()
	live, err := s.Create(ctx, owner, "after-block", time.Time{})
	if err == nil {
		got, _ := s.LookupAccessToken(ctx, live.Hash)
		if !got.Profile.Blocked {
			t.Fatal("token lookup does not report the owner's block")
		}
	}
}

func TestMemory(t *testing.T) {
	ps, err := profile.NewMemory(time.Now, []authz.Profile{{Email: "alice@example.com", Active: true}})
	if err != nil {
		t.Fatal(err)
	}
	p, _ := ps.LookupProfile(context.Background(), "alice@example.com")
	contract(t, token.NewMemory(ps.ByID), p.ID, func() { _, _ = ps.SetBlocked(context.Background(), "alice@example.com", true) })
}

func TestPostgres(t *testing.T) {
	pool := pgtest.MigratedPool(t)
	ps := profile.NewPostgres(pool)
	p, err := ps.AddProfile(context.Background(), "alice@example.com", "", true, false)
	if err != nil {
		t.Fatal(err)
	}
	contract(t, token.NewPostgres(pool), p.ID, func() { _, _ = ps.SetBlocked(context.Background(), "alice@example.com", true) })
}
