// Package profiletest is the contract test suite every profile store in
// pkg/profile passes (see the package documentation of pkg/profile).
package profiletest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/extauthz/extauthz/pkg/authz"
	"github.com/extauthz/extauthz/pkg/profile"
)

// Store is the full surface of a profile store.
type Store interface {
	authz.ProfileSource
	AddProfile(ctx context.Context, email, name string, active, blocked bool) (authz.Profile, error)
	SetBlocked(ctx context.Context, email string, blocked bool) (authz.Profile, error)
	SetActive(ctx context.Context, email string, active bool) (authz.Profile, error)
	SetEmail(ctx context.Context, id, email string) (authz.Profile, error)
	Delete(ctx context.Context, email string) error
	List(ctx context.Context) ([]authz.Profile, error)
	ByID(ctx context.Context, id string) (authz.Profile, error)
}

// Run runs the contract suite; newStore returns an empty store for one
// (parallel) subtest.
func Run(t *testing.T, newStore func(t *testing.T) Store) {
	t.Helper()
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, s Store)
	}{
		{"NotFound", testNotFound},
		{"AddRoundTrip", testAddRoundTrip},
		{"AddDuplicate", testAddDuplicate},
		{"AddEmptyEmail", testAddEmptyEmail},
		{"RegisterCreatesActive", testRegisterCreatesActive},
		{"RegisterExisting", testRegisterExisting},
		{"RegisterConcurrent", testRegisterConcurrent},
		{"RegisterDoesNotResurrect", testRegisterDoesNotResurrect},
		{"RegisterKeepsFirstApp", testRegisterKeepsFirstApp},
		{"AddAdoptsRegistered", testAddAdoptsRegistered},
		{"ActivateAdoptsRegistered", testActivateAdoptsRegistered},
		{"Flags", testFlags},
		{"Delete", testDelete},
		{"SetEmail", testSetEmail},
		{"List", testList},
		{"ByID", testByID},
		{"CancelledContext", testCancelledContext},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newStore(t))
		})
	}
}

func ctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func mustAdd(t *testing.T, s Store, email string, active, blocked bool) authz.Profile {
	t.Helper()
	p, err := s.AddProfile(ctx(t), email, "Name of "+email, active, blocked)
	if err != nil {
		t.Fatalf("AddProfile: %v", err)
	}
	return p
}

func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: err = %v, want %v", what, err, target)
	}
}

// recent checks a Modified time: UTC, microseconds, not far from now.
func recent(t *testing.T, what string, m time.Time) {
	t.Helper()
	if m.Location() != time.UTC {
		t.Errorf("%s: Modified %v not in UTC", what, m)
	}
	if m.Nanosecond()%1000 != 0 {
		t.Errorf("%s: Modified %v finer than microseconds", what, m)
	}
	if d := time.Since(m); d < -time.Minute || d > time.Minute {
		t.Errorf("%s: Modified %v is %v from now", what, m, d)
	}
}

func testNotFound(t *testing.T, s Store) {
	c := ctx(t)
	_, err := s.LookupProfile(c, "nobody@example.com")
	wantErr(t, "LookupProfile", err, authz.ErrNotFound)
	_, err = s.SetBlocked(c, "nobody@example.com", true)
	wantErr(t, "SetBlocked", err, authz.ErrNotFound)
	_, err = s.SetActive(c, "nobody@example.com", false)
	wantErr(t, "SetActive", err, authz.ErrNotFound)
	wantErr(t, "Delete", s.Delete(c, "nobody@example.com"), authz.ErrNotFound)
	if authz.IsTransient(err) {
		t.Fatalf("not found classified transient: %v", err)
	}
}

func testAddRoundTrip(t *testing.T, s Store) {
	c := ctx(t)
	added, err := s.AddProfile(c, "alice@example.com", "Alice", false, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := parseUUID(added.ID); !ok {
		t.Errorf("ID %q is not a canonical UUID", added.ID)
	}
	want := authz.Profile{ID: added.ID, Email: "alice@example.com", Name: "Alice", Active: false, Blocked: true, Modified: added.Modified}
	if added != want {
		t.Errorf("AddProfile = %+v, want %+v", added, want)
	}
	recent(t, "AddProfile", added.Modified)
	got, err := s.LookupProfile(c, "alice@example.com")
	if err != nil || got != added {
		t.Errorf("LookupProfile = %+v, %v; want %+v", got, err, added)
	}
	// Exact match only: no case folding, no pattern matching.
	for _, other := range []string{"Alice@example.com", "alice@example.co", "alice@example.com ", "%@example.com", "alice@example._om"} {
		if _, err := s.LookupProfile(c, other); !errors.Is(err, authz.ErrNotFound) {
			t.Errorf("LookupProfile(%q) = %v, want not found", other, err)
		}
	}
}

func testAddDuplicate(t *testing.T, s Store) {
	c := ctx(t)
	first := mustAdd(t, s, "dup@example.com", true, false)
	_, err := s.AddProfile(c, "dup@example.com", "Other", false, true)
	wantErr(t, "second AddProfile", err, profile.ErrExists)
	if authz.IsTransient(err) {
		t.Errorf("ErrExists classified transient: %v", err)
	}
	got, err := s.LookupProfile(c, "dup@example.com")
	if err != nil || got != first {
		t.Errorf("after duplicate: %+v, %v; want %+v unchanged", got, err, first)
	}
}

func testAddEmptyEmail(t *testing.T, s Store) {
	_, err := s.AddProfile(ctx(t), "", "x", true, false)
	wantErr(t, "AddProfile(\"\")", err, profile.ErrInvalid)
	_, err = s.RegisterProfile(ctx(t), "", "x", "open")
	wantErr(t, "RegisterProfile(\"\")", err, profile.ErrInvalid)
}

func testRegisterCreatesActive(t *testing.T, s Store) {
	c := ctx(t)
	p, err := s.RegisterProfile(c, "new@example.com", "New", "open")
	if err != nil {
		t.Fatal(err)
	}
	if p.ID == "" || p.Email != "new@example.com" || p.Name != "New" || !p.Active || p.Blocked || p.Deleted {
		t.Errorf("RegisterProfile = %+v, want an active, unblocked profile", p)
	}
	if p.RegisteredBy != "open" {
		t.Errorf("RegisteredBy = %q, want the registering app %q", p.RegisteredBy, "open")
	}
	recent(t, "RegisterProfile", p.Modified)
	got, err := s.LookupProfile(c, "new@example.com")
	if err != nil || got != p {
		t.Errorf("LookupProfile = %+v, %v; want %+v", got, err, p)
	}
}

func testRegisterExisting(t *testing.T, s Store) {
	c := ctx(t)
	blocked := mustAdd(t, s, "blocked@example.com", true, true)
	got, err := s.RegisterProfile(c, "blocked@example.com", "Someone Else", "open")
	if err != nil || got != blocked {
		t.Errorf("RegisterProfile on existing = %+v, %v; want %+v unchanged (still blocked)", got, err, blocked)
	}
}

func testRegisterConcurrent(t *testing.T, s Store) {
	c := ctx(t)
	const n = 20
	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		got   [n]authz.Profile
		errs  [n]error
	)
	for i := range n {
		wg.Go(func() {
			<-start
			got[i], errs[i] = s.RegisterProfile(c, "rush@example.com", fmt.Sprintf("caller %d", i), fmt.Sprintf("app%d", i))
		})
	}
	close(start)
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("call %d: %v", i, errs[i])
		}
		if got[i].ID != got[0].ID || got[i].RegisteredBy != got[0].RegisteredBy {
			t.Fatalf("call %d got profile %s registered by %q, call 0 got %s by %q", i, got[i].ID, got[i].RegisteredBy, got[0].ID, got[0].RegisteredBy)
		}
	}
	ps, err := s.List(c)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 1 || ps[0].ID != got[0].ID {
		t.Fatalf("List after %d concurrent registrations = %+v, want exactly one profile", n, ps)
	}
}

func testRegisterDoesNotResurrect(t *testing.T, s Store) {
	c := ctx(t)
	p := mustAdd(t, s, "gone@example.com", true, false)
	if err := s.Delete(c, "gone@example.com"); err != nil {
		t.Fatal(err)
	}
	got, err := s.RegisterProfile(c, "gone@example.com", "Back", "open")
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != p.ID || !got.Deleted {
		t.Errorf("RegisterProfile on a deleted profile = %+v, want the same, still deleted", got)
	}
}

// testRegisterKeepsFirstApp: a profile records the app it was registered
// through; registering it again through another app changes nothing.
func testRegisterKeepsFirstApp(t *testing.T, s Store) {
	c := ctx(t)
	first, err := s.RegisterProfile(c, "carol@example.com", "Carol", "open")
	if err != nil {
		t.Fatal(err)
	}
	again, err := s.RegisterProfile(c, "carol@example.com", "Other", "wiki")
	if err != nil || again != first {
		t.Errorf("RegisterProfile through another app = %+v, %v; want %+v unchanged", again, err, first)
	}
	if looked, err := s.LookupProfile(c, "carol@example.com"); err != nil || looked.RegisteredBy != "open" {
		t.Errorf("LookupProfile = %+v, %v; want RegisteredBy open", looked, err)
	}
	added := mustAdd(t, s, "dave@example.com", true, false)
	if added.RegisteredBy != "" {
		t.Errorf("an operator's profile has RegisteredBy %q", added.RegisteredBy)
	}
	if got, err := s.RegisterProfile(c, "dave@example.com", "", "open"); err != nil || got.RegisteredBy != "" {
		t.Errorf("RegisterProfile of an operator's profile = %+v, %v; want it unchanged", got, err)
	}
}

// testAddAdoptsRegistered: the operator's add of an auto-registered email
// adopts it (same id, the operator's flags, known to every app); an
// operator's own or a deleted profile is still "exists".
func testAddAdoptsRegistered(t *testing.T, s Store) {
	c := ctx(t)
	reg, err := s.RegisterProfile(c, "carol@example.com", "Carol", "open")
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.AddProfile(c, "carol@example.com", "", true, true)
	if err != nil {
		t.Fatalf("AddProfile of an auto-registered email: %v", err)
	}
	want := authz.Profile{ID: reg.ID, Email: reg.Email, Name: "Carol", Active: true, Blocked: true, Modified: got.Modified}
	if got != want {
		t.Errorf("AddProfile adopting = %+v, want %+v", got, want)
	}
	if looked, err := s.LookupProfile(c, "carol@example.com"); err != nil || looked != got {
		t.Errorf("LookupProfile = %+v, %v; want %+v", looked, err, got)
	}
	_, err = s.AddProfile(c, "carol@example.com", "", true, false)
	wantErr(t, "AddProfile of an adopted profile", err, profile.ErrExists)

	if _, err := s.RegisterProfile(c, "gone@example.com", "", "open"); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(c, "gone@example.com"); err != nil {
		t.Fatal(err)
	}
	_, err = s.AddProfile(c, "gone@example.com", "", true, false)
	wantErr(t, "AddProfile of a deleted auto-registered profile", err, profile.ErrExists)
	if looked, err := s.LookupProfile(c, "gone@example.com"); err != nil || !looked.Deleted || looked.RegisteredBy != "open" {
		t.Errorf("a failed add changed the deleted profile: %+v, %v", looked, err)
	}
}

// testActivateAdoptsRegistered: activating is the operator vouching for
// the person; deactivating, blocking and unblocking are not.
func testActivateAdoptsRegistered(t *testing.T, s Store) {
	c := ctx(t)
	if _, err := s.RegisterProfile(c, "carol@example.com", "", "open"); err != nil {
		t.Fatal(err)
	}
	for _, step := range []struct {
		name string
		do   func() (authz.Profile, error)
		want string
	}{
		{"block", func() (authz.Profile, error) { return s.SetBlocked(c, "carol@example.com", true) }, "open"},
		{"unblock", func() (authz.Profile, error) { return s.SetBlocked(c, "carol@example.com", false) }, "open"},
		{"deactivate", func() (authz.Profile, error) { return s.SetActive(c, "carol@example.com", false) }, "open"},
		{"activate", func() (authz.Profile, error) { return s.SetActive(c, "carol@example.com", true) }, ""},
	} {
		got, err := step.do()
		if err != nil || got.RegisteredBy != step.want {
			t.Fatalf("%s: %+v, %v; want RegisteredBy %q", step.name, got, err, step.want)
		}
		if looked, err := s.LookupProfile(c, "carol@example.com"); err != nil || looked != got {
			t.Fatalf("%s: LookupProfile = %+v, %v; want %+v", step.name, looked, err, got)
		}
	}
}

func testFlags(t *testing.T, s Store) {
	c := ctx(t)
	p := mustAdd(t, s, "flags@example.com", true, false)
	steps := []struct {
		name string
		do   func() (authz.Profile, error)
		want func(p *authz.Profile)
	}{
		{"block", func() (authz.Profile, error) { return s.SetBlocked(c, p.Email, true) }, func(p *authz.Profile) { p.Blocked = true }},
		{"block again", func() (authz.Profile, error) { return s.SetBlocked(c, p.Email, true) }, func(p *authz.Profile) {}},
		{"deactivate", func() (authz.Profile, error) { return s.SetActive(c, p.Email, false) }, func(p *authz.Profile) { p.Active = false }},
		{"unblock", func() (authz.Profile, error) { return s.SetBlocked(c, p.Email, false) }, func(p *authz.Profile) { p.Blocked = false }},
		{"activate", func() (authz.Profile, error) { return s.SetActive(c, p.Email, true) }, func(p *authz.Profile) { p.Active = true }},
	}
	want := p
	for _, st := range steps {
		got, err := st.do()
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		st.want(&want)
		want.Modified = got.Modified
		if got != want {
			t.Fatalf("%s returned %+v, want %+v", st.name, got, want)
		}
		if got.Modified.Before(p.Modified) {
			t.Errorf("%s: Modified went back from %v to %v", st.name, p.Modified, got.Modified)
		}
		looked, err := s.LookupProfile(c, p.Email)
		if err != nil || looked != got {
			t.Fatalf("%s: LookupProfile = %+v, %v; want %+v", st.name, looked, err, got)
		}
	}
}

func testDelete(t *testing.T, s Store) {
	c := ctx(t)
	p := mustAdd(t, s, "del@example.com", true, false)
	for i := range 2 { // deleting twice is fine
		if err := s.Delete(c, p.Email); err != nil {
			t.Fatalf("Delete #%d: %v", i+1, err)
		}
	}
	got, err := s.LookupProfile(c, p.Email)
	if err != nil {
		t.Fatalf("LookupProfile of a deleted profile: %v (it must still resolve, as deleted)", err)
	}
	if !got.Deleted || got.ID != p.ID || !got.Active || got.Blocked {
		t.Errorf("LookupProfile = %+v, want the same profile with Deleted", got)
	}
	_, err = s.AddProfile(c, p.Email, "again", true, false)
	wantErr(t, "AddProfile over a deleted profile", err, profile.ErrExists)
	byID, err := s.ByID(c, p.ID)
	if err != nil || !byID.Deleted {
		t.Errorf("ByID = %+v, %v; want Deleted", byID, err)
	}
}

func testSetEmail(t *testing.T, s Store) {
	c := ctx(t)
	a := mustAdd(t, s, "a@example.com", true, false)
	mustAdd(t, s, "b@example.com", true, false)
	_, err := s.SetEmail(c, a.ID, "b@example.com")
	wantErr(t, "SetEmail to a taken email", err, profile.ErrExists)
	got, err := s.SetEmail(c, a.ID, "a2@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != a.ID || got.Email != "a2@example.com" {
		t.Errorf("SetEmail = %+v", got)
	}
	if _, err := s.LookupProfile(c, "a@example.com"); !errors.Is(err, authz.ErrNotFound) {
		t.Errorf("old email still resolves: %v", err)
	}
	if looked, err := s.LookupProfile(c, "a2@example.com"); err != nil || looked != got {
		t.Errorf("new email: %+v, %v", looked, err)
	}
	if _, err := s.SetEmail(c, a.ID, "a2@example.com"); err != nil {
		t.Errorf("SetEmail to its own email: %v", err)
	}
	_, err = s.SetEmail(c, "00000000-0000-4000-8000-000000000000", "x@example.com")
	wantErr(t, "SetEmail of an unknown id", err, authz.ErrNotFound)
	_, err = s.SetEmail(c, "not-a-uuid", "x@example.com")
	wantErr(t, "SetEmail of a malformed id", err, authz.ErrNotFound)
	_, err = s.SetEmail(c, a.ID, "")
	wantErr(t, "SetEmail to empty", err, profile.ErrInvalid)
}

func testList(t *testing.T, s Store) {
	c := ctx(t)
	ps, err := s.List(c)
	if err != nil || len(ps) != 0 {
		t.Fatalf("List of an empty store = %v, %v", ps, err)
	}
	// Bytewise order: "B" < "a" < "b" < "é".
	for _, e := range []string{"b@example.com", "\u00e9@example.com", "B@example.com", "a@example.com"} {
		mustAdd(t, s, e, true, false)
	}
	if err := s.Delete(c, "b@example.com"); err != nil {
		t.Fatal(err)
	}
	ps, err = s.List(c)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range ps {
		got = append(got, p.Email)
	}
	want := []string{"B@example.com", "a@example.com", "b@example.com", "\u00e9@example.com"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("List order %q, want %q", got, want)
	}
	if !ps[2].Deleted {
		t.Errorf("List leaves out or undeletes deleted profiles: %+v", ps[2])
	}
}

func testByID(t *testing.T, s Store) {
	c := ctx(t)
	p := mustAdd(t, s, "id@example.com", true, false)
	got, err := s.ByID(c, p.ID)
	if err != nil || got != p {
		t.Errorf("ByID = %+v, %v; want %+v", got, err, p)
	}
	for _, id := range []string{"", "nope", "00000000-0000-4000-8000-000000000000", p.ID + "0", "{" + p.ID + "}"} {
		_, err := s.ByID(c, id)
		wantErr(t, fmt.Sprintf("ByID(%q)", id), err, authz.ErrNotFound)
	}
}

func testCancelledContext(t *testing.T, s Store) {
	mustAdd(t, s, "c@example.com", true, false)
	c, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := s.LookupProfile(c, "c@example.com")
	wantErr(t, "LookupProfile", err, authz.ErrUnavailable)
	_, err = s.RegisterProfile(c, "d@example.com", "", "open")
	wantErr(t, "RegisterProfile", err, authz.ErrUnavailable)
	_, err = s.SetBlocked(c, "c@example.com", true)
	wantErr(t, "SetBlocked", err, authz.ErrUnavailable)
}

// parseUUID checks the canonical lower-case 8-4-4-4-12 form.
func parseUUID(s string) (string, bool) {
	if len(s) != 36 {
		return "", false
	}
	for i, r := range s {
		switch i {
		case 8, 13, 18, 23:
			if r != '-' {
				return "", false
			}
		default:
			if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f') {
				return "", false
			}
		}
	}
	return s, true
}
