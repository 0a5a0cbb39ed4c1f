package admin_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/extauthz/extauthz/internal/pgtest"
	"github.com/extauthz/extauthz/pkg/admin"
	"github.com/extauthz/extauthz/pkg/authz"
	"github.com/extauthz/extauthz/pkg/cookie"
	"github.com/extauthz/extauthz/pkg/explain"
	"github.com/extauthz/extauthz/pkg/profile"
	"github.com/extauthz/extauthz/pkg/session"
	adminv1 "github.com/extauthz/extauthz/proto/extauthz/admin/v1"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const token = "test-admin-token-0123456789"

// env is a real PostgreSQL, the stores on it, a decision engine deciding
// with them (the service), and the admin API on a loopback gRPC listener.
type env struct {
	profiles *profile.Postgres
	sessions *session.Postgres
	engine   *authz.Engine
	addr     string
}

func start(t *testing.T) *env {
	t.Helper()
	pool := pgtest.MigratedPool(t)
	e := &env{profiles: profile.NewPostgres(pool), sessions: session.NewPostgres(pool)}
	apps := []authz.App{{Policy: authz.DefaultPolicy(authz.DefaultApp), Profiles: e.profiles}}
	var err error
	e.engine, err = authz.New(authz.Config{Apps: apps, Sessions: e.sessions, LookupTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ex, err := explain.New(explain.Config{Apps: apps, Sessions: e.sessions})
	if err != nil {
		t.Fatal(err)
	}
	unary, stream, err := admin.BearerToken(token)
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer(grpc.ChainUnaryInterceptor(unary), grpc.ChainStreamInterceptor(stream))
	admin.Register(gs, admin.New(e.profiles, e.sessions, ex.Explain))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = gs.Serve(ln) }()
	t.Cleanup(gs.Stop)
	e.addr = ln.Addr().String()
	return e
}

// client dials the admin API, with the bearer token when tok is not "".
func (e *env) client(t *testing.T, tok string) adminv1.AdminClient {
	t.Helper()
	opts := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	if tok != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(admin.Credentials{Token: tok, Insecure: true}))
	}
	conn, err := grpc.NewClient(e.addr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return adminv1.NewAdminClient(conn)
}

// signIn decides a first request of email and returns the session token set.
func (e *env) signIn(t *testing.T, email string) string {
	t.Helper()
	h := authz.Headers{}
	h.Add("x-auth-request-email", email)
	d := e.engine.Decide(context.Background(), authz.Input{Method: "GET", Scheme: "https", Host: "app.example.com", Path: "/", Headers: h})
	if d.Reason != authz.ReasonRekey {
		t.Fatalf("sign-in: %s %d", d.Reason, d.Status)
	}
	v, _, _ := strings.Cut(strings.TrimPrefix(d.SetCookies[0], "extauthz_session="), ";")
	return v
}

// check decides a request of email presenting the session token.
func (e *env) check(email, tok string) authz.Decision {
	h := authz.Headers{}
	h.Add("x-auth-request-email", email)
	return e.engine.Decide(context.Background(), authz.Input{Method: "GET", Scheme: "https", Host: "app.example.com", Path: "/",
		Headers: h, Cookies: cookie.Parse("extauthz_session=" + tok)})
}

func ref(email string) *adminv1.ProfileRef {
	return &adminv1.ProfileRef{Ref: &adminv1.ProfileRef_Email{Email: email}}
}

func TestTokenRequired(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	for name, c := range map[string]adminv1.AdminClient{"none": e.client(t, ""), "wrong": e.client(t, token+"x"), "prefix": e.client(t, token[:10])} {
		_, err := c.ListSessions(ctx, &adminv1.ListSessionsRequest{Profile: ref("alice@example.com")})
		if status.Code(err) != codes.Unauthenticated {
			t.Errorf("%s token: %v, want Unauthenticated", name, err)
		}
		_, err = c.Explain(ctx, &adminv1.ExplainRequest{})
		if status.Code(err) != codes.Unauthenticated {
			t.Errorf("%s token, Explain: %v, want Unauthenticated", name, err)
		}
	}
	if _, _, err := admin.BearerToken(""); err == nil {
		t.Error("an empty token was accepted")
	}
}

func TestRevokeListBlockExplain(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	alice, err := e.profiles.AddProfile(ctx, "alice@example.com", "Alice", true, false)
	if err != nil {
		t.Fatal(err)
	}
	tok1, tok2 := e.signIn(t, "alice@example.com"), e.signIn(t, "alice@example.com")
	if d := e.check("alice@example.com", tok1); d.Reason != authz.ReasonSessionMatch {
		t.Fatalf("before revoke: %s", d.Reason)
	}
	c := e.client(t, token)

	list, err := c.ListSessions(ctx, &adminv1.ListSessionsRequest{Profile: &adminv1.ProfileRef{Ref: &adminv1.ProfileRef_ProfileId{ProfileId: alice.ID}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.GetSessions()) != 2 || list.GetProfile().GetEmail() != "alice@example.com" {
		t.Fatalf("ListSessions = %v", list)
	}
	for _, s := range list.GetSessions() {
		if len(s.GetHashPrefix()) != 16 || strings.Contains(tok1+tok2, s.GetHashPrefix()) || !s.GetExpiresAt().AsTime().After(time.Now()) {
			t.Errorf("session %v", s)
		}
	}

	// Explain sees the live session and writes nothing.
	ex, err := c.Explain(ctx, &adminv1.ExplainRequest{
		Headers: []*adminv1.Header{{Name: "X-Auth-Request-Email", Value: "Alice@Example.com"}},
		Cookies: []string{"extauthz_session=" + tok1},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !ex.GetAllow() || ex.GetReason() != "session_match" || ex.GetProfileId() != alice.ID || len(ex.GetStoreEffects()) != 0 {
		t.Errorf("Explain = %v", ex)
	}

	// Revoke by email (any case): the next check of either browser re-keys.
	rv, err := c.RevokeSessions(ctx, &adminv1.RevokeSessionsRequest{Profile: ref(" ALICE@example.com ")})
	if err != nil {
		t.Fatal(err)
	}
	if rv.GetRevoked() != 2 || rv.GetProfile().GetId() != alice.ID {
		t.Errorf("RevokeSessions = %v", rv)
	}
	ex, err = c.Explain(ctx, &adminv1.ExplainRequest{
		Headers: []*adminv1.Header{{Name: "x-auth-request-email", Value: "alice@example.com"}},
		Cookies: []string{"extauthz_session=" + tok1},
	})
	if err != nil {
		t.Fatal(err)
	}
	if ex.GetReason() != "rekey" || len(ex.GetStoreEffects()) == 0 || strings.Contains(strings.Join(ex.GetSetCookies(), ""), tok1) {
		t.Errorf("Explain after revoke = %v", ex)
	}
	for _, sc := range ex.GetSetCookies() {
		if strings.HasPrefix(sc, "extauthz_session=") && !strings.HasPrefix(sc, "extauthz_session=<new token>") {
			t.Errorf("new token not redacted: %q", sc)
		}
	}
	if d := e.check("alice@example.com", tok2); d.Reason != authz.ReasonRekey {
		t.Errorf("after revoke: %s, want rekey", d.Reason)
	}

	// Block: sessions revoked too, the next check is denied.
	tok3 := e.signIn(t, "alice@example.com")
	bl, err := c.BlockProfile(ctx, &adminv1.BlockProfileRequest{Profile: ref("alice@example.com")})
	if err != nil {
		t.Fatal(err)
	}
	if !bl.GetProfile().GetBlocked() || bl.GetSessionsRevoked() < 1 {
		t.Errorf("BlockProfile = %v", bl)
	}
	if d := e.check("alice@example.com", tok3); d.Reason != authz.ReasonProfileBlocked || d.Status != 403 {
		t.Errorf("blocked: %s %d", d.Reason, d.Status)
	}
	ub, err := c.UnblockProfile(ctx, &adminv1.UnblockProfileRequest{Profile: ref("alice@example.com")})
	if err != nil || ub.GetProfile().GetBlocked() {
		t.Fatalf("UnblockProfile = %v, %v", ub, err)
	}
	if d := e.check("alice@example.com", tok3); d.Reason != authz.ReasonRekey {
		t.Errorf("after unblock the old session stays gone: %s", d.Reason)
	}
}

func TestErrorsMapToCodes(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	c := e.client(t, token)
	tests := []struct {
		name string
		call func() error
		want codes.Code
	}{
		{"unknown email", func() error {
			_, err := c.RevokeSessions(ctx, &adminv1.RevokeSessionsRequest{Profile: ref("nobody@example.com")})
			return err
		}, codes.NotFound},
		{"unknown id", func() error {
			_, err := c.BlockProfile(ctx, &adminv1.BlockProfileRequest{Profile: &adminv1.ProfileRef{Ref: &adminv1.ProfileRef_ProfileId{ProfileId: "00000000-0000-0000-0000-000000000000"}}})
			return err
		}, codes.NotFound},
		{"no ref", func() error {
			_, err := c.ListSessions(ctx, &adminv1.ListSessionsRequest{})
			return err
		}, codes.InvalidArgument},
		{"not an email", func() error {
			_, err := c.UnblockProfile(ctx, &adminv1.UnblockProfileRequest{Profile: ref("not an email")})
			return err
		}, codes.InvalidArgument},
		{"header without a name", func() error {
			_, err := c.Explain(ctx, &adminv1.ExplainRequest{Headers: []*adminv1.Header{{Value: "x"}}})
			return err
		}, codes.InvalidArgument},
	}
	for _, tt := range tests {
		if got := status.Code(tt.call()); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}
