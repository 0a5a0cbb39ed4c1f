package config

import (
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// inDir matches the folder of a config file named in an error.
var inDir = regexp.MustCompile(`\(/[^ ()]*/`)

// TestHostsValidation: each hosts entry is a name, an address or a
// wildcard; no app lists one twice; no two apps' hosts overlap. Problems
// name the entry, and the file and line it was written on.
func TestHostsValidation(t *testing.T) {
	tests := []struct {
		name string
		yml  string
		want []string // substrings of the error; nil: valid
		not  []string // must not appear
	}{
		{
			name: "names, addresses and wildcards",
			yml: `apps:
  plane: {hosts: [plane.example.com, PLANE.internal., "*.plane.example.org", 10.0.0.7, "[2001:db8::1]", "2001:db8::2"]}
  outline: {hosts: ["*.wiki.example.com", docs.example.com]}
  default: {hosts: [www.example.com]}
`,
		},
		{
			name: "bad entries",
			yml: `apps:
  plane:
    hosts:
      - plane.example.com:443
      - "*"
      - "*example.com"
      - "a.*.example.com"
      - "*.*.example.com"
      - ""
      - "-bad-.example.com"
      - "fe80::1%eth0"
      - "http://plane.example.com"
`,
			want: []string{
				`apps.plane.hosts[0]: must be a host name such as plane.example.com, an IP address, or a wildcard such as *.example.com (without a port: the request's port is ignored), got "plane.example.com:443" (extauthz.yaml:4)`,
				`apps.plane.hosts[1]: must be a host name`,
				`apps.plane.hosts[2]: must be a host name such as plane.example.com, an IP address, or a wildcard such as *.example.com (a wildcard stands only for whole leading labels: "*.example.com"), got "*example.com" (extauthz.yaml:6)`,
				`apps.plane.hosts[3]: must be a host name`,
				`apps.plane.hosts[4]: must be a host name such as plane.example.com, an IP address, or a wildcard such as *.example.com (a wildcard is "*." and a domain)`,
				`apps.plane.hosts[5]: must be a host name`,
				`apps.plane.hosts[6]: must be a host name`,
				`apps.plane.hosts[7]: must be a host name such as plane.example.com, an IP address, or a wildcard such as *.example.com (without an IPv6 zone)`,
				`apps.plane.hosts[8]: must be a host name`,
			},
		},
		{
			name: "listed twice in one app",
			yml:  "apps:\n  plane:\n    hosts: [plane.example.com, \"*.example.org\", Plane.Example.com]\n",
			want: []string{`apps.plane.hosts[2]: "Plane.Example.com" is listed twice (also apps.plane.hosts[0]) (extauthz.yaml:3)`},
		},
		{
			name: "an app's own wildcard may cover its own names",
			yml:  "apps:\n  plane:\n    hosts: [\"*.example.com\", plane.example.com]\n",
		},
		{
			name: "the same exact host in two apps",
			yml: `apps:
  outline:
    hosts: [docs.example.com]
  plane:
    hosts:
      - plane.example.com
      - DOCS.example.com
`,
			want: []string{`apps.plane.hosts[1]: "DOCS.example.com" overlaps "docs.example.com" of apps.outline.hosts[0] (extauthz.yaml:3): a host may select one app only (extauthz.yaml:7)`},
			not:  []string{"apps.outline.hosts[0]: "},
		},
		{
			name: "the same wildcard in two apps",
			yml:  "apps:\n  a: {hosts: [\"*.example.com\"]}\n  b: {hosts: [\"*.EXAMPLE.com\"]}\n",
			want: []string{`apps.b.hosts[0]: "*.EXAMPLE.com" overlaps "*.example.com" of apps.a.hosts[0]`},
		},
		{
			name: "an exact host another app's wildcard covers",
			yml:  "apps:\n  a: {hosts: [\"*.example.com\"]}\n  b: {hosts: [plane.example.com]}\n",
			want: []string{`apps.b.hosts[0]: "plane.example.com" overlaps "*.example.com" of apps.a.hosts[0]`},
		},
		{
			name: "a wildcard inside another app's",
			yml:  "apps:\n  a: {hosts: [\"*.apps.example.com\"]}\n  b: {hosts: [\"*.example.com\"]}\n",
			want: []string{`apps.b.hosts[0]: "*.example.com" overlaps "*.apps.example.com" of apps.a.hosts[0]`},
		},
		{
			name: "the default app overlapping another",
			yml:  "apps:\n  default: {hosts: [\"*.example.com\"]}\n  b: {hosts: [b.example.com]}\n",
			want: []string{`apps.b.hosts[0]: "b.example.com" overlaps "*.example.com" of apps.default.hosts[0]`},
		},
		{
			name: "a wildcard does not cover its bare domain",
			yml:  "apps:\n  a: {hosts: [\"*.example.com\"]}\n  b: {hosts: [example.com]}\n",
		},
		{
			name: "not a list",
			yml:  "apps:\n  a: {hosts: a.example.com}\n",
			want: []string{"apps.a.hosts: must be a list"},
		},
		{
			name: "did you mean",
			yml:  "apps:\n  a: {host: [a.example.com]}\n",
			want: []string{"apps.a.host: unknown key (did you mean hosts?)"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, perr := parse(t, tt.yml, nil)
			if tt.want == nil {
				if perr != nil {
					t.Fatalf("Parse = %v, want nil", perr)
				}
				return
			}
			if perr == nil {
				t.Fatalf("Parse = nil, want %q", tt.want)
			}
			err := errors.New(inDir.ReplaceAllString(perr.Error(), "("))
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q; got:\n%v", w, err)
				}
			}
			for _, n := range tt.not {
				if strings.Contains(err.Error(), n) {
					t.Errorf("error has %q; got:\n%v", n, err)
				}
			}
			if got := strings.Count(err.Error(), "\n") + 1; got != len(tt.want) {
				t.Errorf("%d problems reported, want %d:\n%v", got, len(tt.want), err)
			}
		})
	}
}

// TestHostsPolicy: an app's hosts reach its policy in the form authz
// compares them in; hosts are never inherited from the top level (there is
// no top-level key).
func TestHostsPolicy(t *testing.T) {
	c, err := parse(t, "apps:\n  plane: {hosts: [Plane.Example.com., \"*.Plane.example.org\", \"[2001:DB8::1]\"]}\n  outline: {}\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	for _, p := range c.Policies() {
		got[p.App] = p.Hosts
	}
	want := map[string][]string{"default": nil, "outline": nil, "plane": {"plane.example.com", "*.plane.example.org", "2001:db8::1"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("hosts (-want +got):\n%s", diff)
	}
	if _, err := parse(t, "hosts: [a.example.com]\n", nil); err == nil || !strings.Contains(err.Error(), "hosts: unknown key") {
		t.Errorf("top-level hosts: err = %v, want unknown key", err)
	}
}

// TestProblemsNameTheirLine: a validation problem about a key the file set
// says where, whatever the key.
func TestProblemsNameTheirLine(t *testing.T) {
	_, err := parse(t, "log: {level: info}\napps:\n  plane:\n    flush_mode: sideways\n", nil)
	if err == nil || !strings.Contains(inDir.ReplaceAllString(err.Error(), "("), `apps.plane.flush_mode: must be "redirect" or "inline", got "sideways" (extauthz.yaml:4)`) {
		t.Errorf("err = %v", err)
	}
	c := Default()
	c.Defaults.FlushMode = "x"
	if err := c.Validate(); err == nil || strings.Contains(err.Error(), "yaml") {
		t.Errorf("Validate without a file = %v, want no position", err)
	}
}
