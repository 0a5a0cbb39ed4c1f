package session_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/extauthz/extauthz/pkg/authz"
	"github.com/extauthz/extauthz/pkg/cookie"
	"github.com/extauthz/extauthz/pkg/session"
	"github.com/extauthz/extauthz/pkg/session/sessiontest"
)

func randomUUID(t *testing.T) string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

func TestMemoryContract(t *testing.T) {
	t.Parallel()
	sessiontest.Run(t, func(t *testing.T) sessiontest.Harness {
		return sessiontest.Harness{Store: session.NewMemory(0), NewProfile: randomUUID}
	})
}

func TestMemoryLimitEvictsSoonestExpiry(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m := session.NewMemory(3)
	pid := randomUUID(t)
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	mk := func(label string, ttl time.Duration) authz.Session {
		return authz.Session{Hash: cookie.Hash(sha256.Sum256([]byte(label))), ProfileID: pid,
			CreatedAt: base, RenewedAt: base, ExpiresAt: base.Add(ttl)}
	}
	for _, s := range []authz.Session{mk("long", 3*time.Hour), mk("short", time.Hour), mk("mid", 2*time.Hour)} {
		if err := m.ReplaceSession(ctx, cookie.Hash{}, s); err != nil {
			t.Fatal(err)
		}
	}
	// Renewing "short" makes "mid" the soonest to expire.
	if err := m.RenewSession(ctx, mk("short", 0).Hash, base, base.Add(4*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := m.ReplaceSession(ctx, cookie.Hash{}, mk("new", time.Hour)); err != nil {
		t.Fatal(err)
	}
	if m.Len() != 3 {
		t.Fatalf("Len = %d, want 3", m.Len())
	}
	for label, want := range map[string]bool{"long": true, "short": true, "mid": false, "new": true} {
		_, err := m.GetSession(ctx, mk(label, 0).Hash)
		if (err == nil) != want {
			t.Errorf("%s present = %v, want %v", label, err == nil, want)
		}
	}
	// Replacing within the limit evicts nothing else.
	if err := m.ReplaceSession(ctx, mk("new", 0).Hash, mk("newer", time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := m.GetSession(ctx, mk("long", 0).Hash); err != nil {
		t.Errorf("replace at the limit evicted another session: %v", err)
	}
}

// TestMemoryKeepsCopies: a stored session shares no memory with the
// caller's strings, which on the gRPC wire path are views of a whole
// request.
func TestMemoryKeepsCopies(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m := session.NewMemory(0)
	pid := randomUUID(t)
	request := strings.Repeat("h", 4096) + pid + "email:a@x.io" + "a@x.io" + "app"
	at := 4096
	view := func(n int) string { s := request[at : at+n]; at += n; return s }
	s := authz.Session{Hash: cookie.Hash(sha256.Sum256([]byte("s"))), ProfileID: view(len(pid)),
		IdentityKey: view(len("email:a@x.io")), Email: view(len("a@x.io")), App: view(len("app")),
		ExpiresAt: time.Now().Add(time.Hour)}
	if err := m.ReplaceSession(ctx, cookie.Hash{}, s); err != nil {
		t.Fatal(err)
	}
	got, err := m.GetSession(ctx, s.Hash)
	if err != nil {
		t.Fatal(err)
	}
	base := uintptr(unsafe.Pointer(unsafe.StringData(request)))
	for _, v := range []string{got.ProfileID, got.IdentityKey, got.Email, got.App} {
		if p := uintptr(unsafe.Pointer(unsafe.StringData(v))); p >= base && p < base+uintptr(len(request)) {
			t.Errorf("stored %q shares the caller's memory", v)
		}
	}
}
