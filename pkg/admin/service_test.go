package admin_test

import (
	"context"
	"testing"

	"github.com/extauthz/extauthz/pkg/admin"
	"github.com/extauthz/extauthz/pkg/profile"
	"github.com/extauthz/extauthz/pkg/session"
)

// TestMessageSaysItOnce: an error of the admin rules reads as one short
// sentence, not as every layer's prefix ("adding profile: profile: add:
// profile: email already exists").
func TestMessageSaysItOnce(t *testing.T) {
	profiles, err := profile.NewMemory(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	svc := admin.NewService(profiles, session.NewMemory(0), nil)
	ctx := context.Background()
	if _, err := svc.AddProfile(ctx, "alice@example.com", "", true, false); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		err  func() error
		want string
	}{
		{"duplicate", func() error {
			_, err := svc.AddProfile(ctx, "Alice@Example.com", "", true, false)
			return err
		}, "email already exists"},
		{"not found", func() error {
			_, err := svc.Block(ctx, admin.Ref{Email: "bob@example.com"})
			return err
		}, "profile not found"},
	} {
		if got := admin.Message(tt.err()); got != tt.want {
			t.Errorf("%s: Message = %q, want %q", tt.name, got, tt.want)
		}
	}
}
