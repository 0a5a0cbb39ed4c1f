package authz_test

import (
	"context"
	"strings"
	"testing"

	"github.com/extauthz/extauthz/pkg/authz"
)

func TestNormalizeHost(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"plane.example.com", "plane.example.com"},
		{"Plane.Example.COM", "plane.example.com"},
		{"plane.example.com:8443", "plane.example.com"},
		{"plane.example.com.", "plane.example.com"},
		{"plane.example.com.:443", "plane.example.com"},
		{" plane.example.com ", "plane.example.com"},
		{"[::1]:8080", "::1"},
		{"[2001:DB8::1]", "2001:db8::1"},
		{"2001:db8::1", "2001:db8::1"},
		{"10.0.0.1:80", "10.0.0.1"},
		{"", ""},
		{"[::1", ""},
		{"[::1]x", ""},
		{"[not-ip]:80", ""},
		{"host:port", ""},
		{"host:", ""},
		{"a:b:c", ""},
	} {
		if got := authz.NormalizeHost(tt.in); got != tt.want {
			t.Errorf("NormalizeHost(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestHostsOverlap(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want bool
	}{
		{"plane.example.com", "plane.example.com", true},
		{"Plane.example.com", "plane.example.com.", true},
		{"plane.example.com", "outline.example.com", false},
		{"*.example.com", "plane.example.com", true},
		{"plane.example.com", "*.example.com", true},
		{"*.example.com", "example.com", false},
		{"*.example.com", "*.Example.com", true},
		{"*.example.com", "*.apps.example.com", true},
		{"*.apps.example.com", "*.example.com", true},
		{"*.example.com", "*.example.org", false},
		{"*.ample.com", "*.example.com", false},
		{"*.ample.com", "example.com", false},
		{"[::1]", "::1", true},
	} {
		if got := authz.HostsOverlap(tt.a, tt.b); got != tt.want {
			t.Errorf("HostsOverlap(%q, %q) = %t, want %t", tt.a, tt.b, got, tt.want)
		}
	}
}

// hostEngine is an engine over apps that each list hosts.
func hostEngine(t *testing.T, hosts map[string][]string) (*authz.Engine, error) {
	t.Helper()
	apps := []authz.App{{Policy: authz.DefaultPolicy(authz.DefaultApp), Profiles: newProfiles(alice)}}
	for name, hs := range hosts {
		p := authz.DefaultPolicy(name)
		p.Hosts = hs
		apps = append(apps, authz.App{Policy: p, Profiles: newProfiles(alice)})
	}
	return authz.New(authz.Config{Apps: apps, Sessions: newSessions()})
}

func TestAppFor(t *testing.T) {
	eng, err := hostEngine(t, map[string][]string{
		"plane":   {"plane.example.com", "PLANE.internal"},
		"outline": {"*.wiki.example.com", "docs.example.org"},
		"penpot":  {"*.example.net", "[2001:db8::7]"},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ app, host, want string }{
		{"", "plane.example.com", "plane"},
		{"", "Plane.Example.com:443", "plane"},
		{"", "plane.internal", "plane"},
		{"", "plane.example.com.", "plane"},
		{"", "team.wiki.example.com", "outline"},
		{"", "a.b.wiki.example.com:8080", "outline"},
		{"", "wiki.example.com", authz.DefaultApp}, // the wildcard needs a label before it
		{"", "docs.example.org", "outline"},
		{"", "x.docs.example.org", authz.DefaultApp}, // exact names are exact
		{"", "design.example.net", "penpot"},
		{"", "[2001:db8::7]:8443", "penpot"},
		{"", "[2001:db8::8]", authz.DefaultApp},
		{"", "example.net", authz.DefaultApp},
		{"", "unknown.example.com", authz.DefaultApp},
		{"", "", authz.DefaultApp},
		{"", "plane.example.com:http", authz.DefaultApp}, // not a host
		{"outline", "plane.example.com", "outline"},      // a named app wins
		{"nosuch", "plane.example.com", "nosuch"},
	} {
		if got := eng.AppFor(tt.app, tt.host); got != tt.want {
			t.Errorf("AppFor(%q, %q) = %q, want %q", tt.app, tt.host, got, tt.want)
		}
	}
}

func TestNewRefusesOverlappingHosts(t *testing.T) {
	for _, tt := range []struct {
		name  string
		hosts map[string][]string
		want  string // "" accepted
	}{
		{"disjoint", map[string][]string{"a": {"a.example.com", "*.a.example.org"}, "b": {"b.example.com", "*.b.example.org"}}, ""},
		{"same exact", map[string][]string{"a": {"x.example.com"}, "b": {"X.example.com"}}, "overlaps"},
		{"same wildcard", map[string][]string{"a": {"*.example.com"}, "b": {"*.example.com"}}, "overlaps"},
		{"exact under wildcard", map[string][]string{"a": {"*.example.com"}, "b": {"x.example.com"}}, "overlaps"},
		{"nested wildcards", map[string][]string{"a": {"*.example.com"}, "b": {"*.x.example.com"}}, "overlaps"},
		{"one app covering itself", map[string][]string{"a": {"*.example.com", "x.example.com"}}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := hostEngine(t, tt.hosts)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("err = %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}

// TestDecideSelectsAppByHost: a request without an app is decided under the
// policy of the app its host names; the decision says which.
func TestDecideSelectsAppByHost(t *testing.T) {
	eng, err := hostEngine(t, map[string][]string{"plane": {"plane.example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	in := authz.Input{Method: "GET", Scheme: "https", Path: "/", Headers: authz.Headers{"x-auth-request-email": {alice.Email}}}
	for _, tt := range []struct{ app, host, want string }{
		{"", "plane.example.com", "plane"},
		{"", "other.example.com", authz.DefaultApp},
		{authz.DefaultApp, "plane.example.com", authz.DefaultApp},
	} {
		in.App, in.Host = tt.app, tt.host
		if d := eng.Decide(context.Background(), in); d.App != tt.want || !d.Allow {
			t.Errorf("app %q host %q: decided for %q (allow %t, %s), want %q", tt.app, tt.host, d.App, d.Allow, d.Reason, tt.want)
		}
	}
}
