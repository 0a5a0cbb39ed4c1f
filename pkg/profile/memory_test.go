package profile_test

import (
	"errors"
	"testing"
	"time"

	"github.com/extauthz/extauthz/pkg/authz"
	"github.com/extauthz/extauthz/pkg/profile"
	"github.com/extauthz/extauthz/pkg/profile/profiletest"
)

func TestMemoryContract(t *testing.T) {
	t.Parallel()
	profiletest.Run(t, func(t *testing.T) profiletest.Store {
		m, err := profile.NewMemory(nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		return m
	})
}

func TestMemorySeed(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 3, 4, 5, 6789, time.FixedZone("x", 3600))
	m, err := profile.NewMemory(func() time.Time { return now }, []authz.Profile{
		{ID: "0B0C7A4E-0000-4000-8000-000000000001", Email: "a@example.com", Active: true},
		{Email: "b@example.com", Blocked: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	a, err := m.LookupProfile(t.Context(), "a@example.com")
	if err != nil || a.ID != "0b0c7a4e-0000-4000-8000-000000000001" || !a.Active {
		t.Errorf("seeded a = %+v, %v", a, err)
	}
	if want := now.UTC().Truncate(time.Microsecond); !a.Modified.Equal(want) || a.Modified.Location() != time.UTC {
		t.Errorf("Modified = %v, want %v", a.Modified, want)
	}
	b, err := m.ByID(t.Context(), mustLookup(t, m, "b@example.com").ID)
	if err != nil || !b.Blocked || b.Active {
		t.Errorf("seeded b = %+v, %v", b, err)
	}
	for name, seed := range map[string][]authz.Profile{
		"empty email":     {{ID: ""}},
		"bad id":          {{ID: "alice", Email: "a@example.com"}},
		"duplicate email": {{Email: "a@example.com"}, {Email: "a@example.com"}},
		"duplicate id": {
			{ID: "0b0c7a4e-0000-4000-8000-000000000001", Email: "a@example.com"},
			{ID: "0b0c7a4e-0000-4000-8000-000000000001", Email: "b@example.com"},
		},
	} {
		if _, err := profile.NewMemory(nil, seed); !errors.Is(err, profile.ErrInvalid) {
			t.Errorf("%s: NewMemory = %v, want ErrInvalid", name, err)
		}
	}
}

func mustLookup(t *testing.T, s authz.ProfileSource, email string) authz.Profile {
	t.Helper()
	p, err := s.LookupProfile(t.Context(), email)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
