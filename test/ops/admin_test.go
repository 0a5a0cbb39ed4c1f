package ops_test

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/extauthz/extauthz/internal/pgtest"
	"github.com/extauthz/extauthz/pkg/admin"
	adminv1 "github.com/extauthz/extauthz/proto/extauthz/admin/v1"
	"github.com/extauthz/extauthz/test/harness"
)

// The admin API of the real binary over real gRPC, on a real PostgreSQL:
// no token, no access; with it, a revoke makes the next Check of that
// browser a re-key.
func TestAdminRevokeEndToEnd(t *testing.T) {
	const token = "ops-test-admin-token-7f3a9c"
	db := pgtest.URL(t)
	adminAddr := harness.FreeAddr(t)
	s := harness.Start(t, harness.Options{
		DatabaseURL: db,
		Config:      "log: {format: json}\ncookie: {secure: false}\nauto_register: true\n",
		Args:        []string{"--admin-addr", adminAddr},
		Env:         []string{"EXTAUTHZ_ADMIN_TOKEN=" + token}, // not on the command line
	})
	ctx := ctxTimeout(t, time.Minute)

	r, err := s.Check(ctx, alice(""))
	if err != nil {
		t.Fatal(err)
	}
	first := harness.Read(r)
	cookie := "extauthz_session=" + first.SessionToken("extauthz_session")
	if first.Reason() != "rekey" || cookie == "extauthz_session=" {
		t.Fatalf("sign-in: %s", first.Reason())
	}
	if r, err := s.Check(ctx, alice(cookie)); err != nil || harness.Read(r).Reason() != "session_match" {
		t.Fatalf("steady state: %v %v", r, err)
	}

	dial := func(opts ...grpc.DialOption) adminv1.AdminClient {
		conn, err := grpc.NewClient(adminAddr, append(opts, grpc.WithTransportCredentials(insecure.NewCredentials()))...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return adminv1.NewAdminClient(conn)
	}
	ref := &adminv1.ProfileRef{Ref: &adminv1.ProfileRef_Email{Email: "alice@example.com"}}

	_, err = dial().RevokeSessions(ctx, &adminv1.RevokeSessionsRequest{Profile: ref})
	if status.Code(err) != codes.Unauthenticated {
		t.Fatalf("without a token: %v, want Unauthenticated", err)
	}
	_, err = dial(grpc.WithPerRPCCredentials(admin.Credentials{Token: "wrong-" + token, Insecure: true})).RevokeSessions(ctx, &adminv1.RevokeSessionsRequest{Profile: ref})
	if status.Code(err) != codes.Unauthenticated {
		t.Fatalf("with a wrong token: %v, want Unauthenticated", err)
	}
	if r, err := s.Check(ctx, alice(cookie)); err != nil || harness.Read(r).Reason() != "session_match" {
		t.Fatalf("a refused revoke changed something: %v %v", r, err)
	}

	c := dial(grpc.WithPerRPCCredentials(admin.Credentials{Token: token, Insecure: true}))
	list, err := c.ListSessions(ctx, &adminv1.ListSessionsRequest{Profile: ref})
	if err != nil || len(list.GetSessions()) != 1 {
		t.Fatalf("ListSessions: %v %v", list, err)
	}
	ex, err := c.Explain(ctx, &adminv1.ExplainRequest{
		Headers: []*adminv1.Header{{Name: "x-auth-request-email", Value: "alice@example.com"}},
		Cookies: []string{cookie},
	})
	if err != nil || ex.GetReason() != "session_match" {
		t.Fatalf("Explain before revoke: %v %v", ex, err)
	}
	rv, err := c.RevokeSessions(ctx, &adminv1.RevokeSessionsRequest{Profile: ref})
	if err != nil || rv.GetRevoked() != 1 {
		t.Fatalf("RevokeSessions: %v %v", rv, err)
	}

	// The session is gone: the old cookie re-keys (within the invalidation
	// bound on a replica with caches).
	var reason string
	eventually(t, 5*time.Second, "old cookie re-keyed after revoke", func() bool {
		r, err := s.Check(ctx, alice(cookie))
		if err != nil {
			t.Fatal(err)
		}
		reason = harness.Read(r).Reason()
		return reason == "rekey"
	})
	if strings.Contains(s.Logs(), token) {
		t.Error("the admin token reached the log")
	}
}

// Without admin_addr there is no admin listener; with it but no token the
// process refuses to start.
func TestAdminOffByDefaultAndTokenRequired(t *testing.T) {
	s := harness.Start(t, harness.Options{Config: baseConfig})
	if !strings.Contains(s.Logs(), `"admin_addr":""`) {
		t.Errorf("admin listener on by default:\n%s", s.Logs())
	}
	_, stderr, err := harness.TryCLI(t, nil, "serve", "--check-config", "--admin-addr", "127.0.0.1:9292")
	if err == nil || !strings.Contains(stderr, "admin_token: is required") {
		t.Errorf("admin_addr without a token: %v\n%s", err, stderr)
	}
}
