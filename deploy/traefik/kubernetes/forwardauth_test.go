// Package traefikkubernetes_test checks what kubeconform cannot in
// deploy/traefik/kubernetes: that extauthz's config beside the Traefik
// objects passes extauthz's own validation, and that each IngressRoute's
// chain says what deploy/traefik/dynamic.yaml.tmpl (run end to end against
// a real Traefik) says: the strip first, then oauth2-proxy, then a
// forwardAuth to the chart's HTTP check port whose /check/<app> names a
// configured app, with the allow-list, response headers and session cookie
// that app needs.
package traefikkubernetes_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/extauthz/extauthz/deploy/internal/valuestest"
	"github.com/extauthz/extauthz/pkg/authz"
)

type forwardAuth struct {
	Address                  string   `yaml:"address"`
	TrustForwardHeader       *bool    `yaml:"trustForwardHeader"`
	AuthRequestHeaders       []string `yaml:"authRequestHeaders"`
	AuthResponseHeaders      []string `yaml:"authResponseHeaders"`
	AddAuthCookiesToResponse []string `yaml:"addAuthCookiesToResponse"`
}

type middleware struct {
	Headers *struct {
		CustomRequestHeaders map[string]string `yaml:"customRequestHeaders"`
	} `yaml:"headers"`
	ForwardAuth *forwardAuth `yaml:"forwardAuth"`
}

type route struct {
	Match       string `yaml:"match"`
	Middlewares []struct {
		Name string `yaml:"name"`
	} `yaml:"middlewares"`
	Services []struct {
		Name string `yaml:"name"`
		Port any    `yaml:"port"`
	} `yaml:"services"`
}

// objects are the Middlewares (by namespace/name) and the IngressRoutes'
// routes (with their namespace) of the example's files.
type objects struct {
	middlewares map[string]middleware
	routes      []route
	routeNS     []string
}

func read(t *testing.T, files ...string) objects {
	t.Helper()
	o := objects{middlewares: map[string]middleware{}}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		for {
			var doc struct {
				Kind     string `yaml:"kind"`
				Metadata struct {
					Name      string `yaml:"name"`
					Namespace string `yaml:"namespace"`
				} `yaml:"metadata"`
				Spec yaml.Node `yaml:"spec"`
			}
			if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			switch doc.Kind {
			case "Middleware":
				var m middleware
				if err := doc.Spec.Decode(&m); err != nil {
					t.Fatalf("%s: Middleware %s: %v", f, doc.Metadata.Name, err)
				}
				o.middlewares[doc.Metadata.Namespace+"/"+doc.Metadata.Name] = m
			case "IngressRoute":
				var spec struct {
					Routes []route `yaml:"routes"`
				}
				if err := doc.Spec.Decode(&spec); err != nil {
					t.Fatalf("%s: IngressRoute %s: %v", f, doc.Metadata.Name, err)
				}
				for _, r := range spec.Routes {
					o.routes = append(o.routes, r)
					o.routeNS = append(o.routeNS, doc.Metadata.Namespace)
				}
			}
		}
	}
	return o
}

// checkPort is the chart's ports.check in the values file, with
// httpCheck.enabled (the listener exists only then).
func checkPort(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("extauthz-values.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		HTTPCheck struct {
			Enabled bool `yaml:"enabled"`
		} `yaml:"httpCheck"`
		Ports struct {
			Check int `yaml:"check"`
		} `yaml:"ports"`
	}
	if err := yaml.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	if !v.HTTPCheck.Enabled {
		t.Fatal("extauthz-values.yaml: httpCheck.enabled is not true: the chart opens no HTTP check port")
	}
	if v.Ports.Check == 0 {
		return "9092" // the chart's default
	}
	return strconv.Itoa(v.Ports.Check)
}

func TestForwardAuthNamesAConfiguredApp(t *testing.T) {
	eng := valuestest.EngineOf(t, "extauthz-values.yaml")
	port := checkPort(t)
	o := read(t, "middlewares.yaml", "ingressroute.yaml")
	chains := 0
	for i, r := range o.routes {
		if len(r.Middlewares) == 0 {
			continue
		}
		chains++
		ns := o.routeNS[i]
		var chain []middleware
		for _, m := range r.Middlewares {
			mw, ok := o.middlewares[ns+"/"+m.Name]
			if !ok {
				t.Fatalf("route %s: no Middleware %s in namespace %s (Traefik refuses other namespaces by default)", r.Match, m.Name, ns)
			}
			chain = append(chain, mw)
		}
		if len(chain) != 3 || chain[0].Headers == nil || chain[1].ForwardAuth == nil || chain[2].ForwardAuth == nil {
			t.Fatalf("route %s: want the strip, oauth2-proxy's forwardAuth, extauthz's forwardAuth, in that order", r.Match)
		}
		app := checkedApp(t, chain[2].ForwardAuth, port)
		p, ok := eng.Policy(app)
		if !ok {
			t.Fatalf("route %s: /check/%s names an app extauthz-values.yaml lacks (503 misconfigured)", r.Match, app)
		}
		checkExtauthz(t, eng, p, chain[2].ForwardAuth)
		checkStrip(t, p, chain[0].Headers.CustomRequestHeaders)
		checkIdentityJWT(t, p, chain[1].ForwardAuth, o, r.Match)
	}
	if chains == 0 {
		t.Fatal("no IngressRoute route with middlewares")
	}
}

// checkedApp returns the app the check address names, after checking the
// address is the chart's HTTP check port on the extauthz Service.
func checkedApp(t *testing.T, fa *forwardAuth, port string) string {
	t.Helper()
	u, err := url.Parse(fa.Address)
	if err != nil {
		t.Fatalf("address %q: %v", fa.Address, err)
	}
	host, p, _ := net.SplitHostPort(u.Host)
	if u.Scheme != "http" || p != port || !strings.HasPrefix(host, "extauthz.") {
		t.Errorf("address %q: want http://extauthz.<namespace>.svc…:%s (the chart's Service port check)", fa.Address, port)
	}
	app, ok := strings.CutPrefix(u.Path, "/check/")
	if !ok || app == "" || strings.Contains(app, "/") {
		t.Fatalf("address %q: want the path /check/<app> (never /nginx/check, nor a bare /check: the app would come from the host)", fa.Address)
	}
	return app
}

func fold(l []string) []string {
	out := make([]string, len(l))
	for i, s := range l {
		out[i] = strings.ToLower(s)
	}
	return out
}

// checkExtauthz: trustForwardHeader false, an allow-list holding every
// header the decision reads, the profile header and the cleaned Cookie
// copied upstream, and the app's session cookie passed to the browser.
func checkExtauthz(t *testing.T, eng *authz.Engine, p authz.Policy, fa *forwardAuth) {
	t.Helper()
	if fa.TrustForwardHeader == nil || *fa.TrustForwardHeader {
		t.Errorf("%s: trustForwardHeader must be false (the client's X-Forwarded-* would name the request)", fa.Address)
	}
	if len(fa.AuthRequestHeaders) == 0 {
		t.Errorf("%s: no authRequestHeaders: forwardAuth would send every client header", fa.Address)
	}
	req := fold(fa.AuthRequestHeaders)
	for h := range eng.HeaderNames() {
		if !slices.Contains(req, h) {
			t.Errorf("%s: authRequestHeaders lacks %s, which the decision reads", fa.Address, h)
		}
	}
	resp := fold(fa.AuthResponseHeaders)
	for _, h := range []string{p.ProfileHeader, "cookie"} {
		if !slices.Contains(resp, h) {
			t.Errorf("%s: authResponseHeaders lacks %s", fa.Address, h)
		}
	}
	if !slices.Contains(fa.AddAuthCookiesToResponse, p.Cookie.Name) {
		t.Errorf("%s: addAuthCookiesToResponse lacks %s: Traefik would drop the session cookie and every request re-key", fa.Address, p.Cookie.Name)
	}
}

// checkStrip: the first middleware removes the client's identity and
// profile headers and X-Original-*.
func checkStrip(t *testing.T, p authz.Policy, set map[string]string) {
	t.Helper()
	removed := map[string]bool{}
	for k, v := range set {
		if v == "" {
			removed[strings.ToLower(k)] = true
		}
	}
	for _, h := range []string{p.EmailHeader, p.UserHeader, p.NameHeader, p.ProfileHeader, "x-original-uri", "x-original-method"} {
		if h != "" && !removed[h] {
			t.Errorf("strip middleware does not remove %s", h)
		}
	}
}

// checkIdentityJWT: an app on identity_jwt (token in Authorization) gets
// oauth2-proxy's id_token copied in, and its host a back-channel logout
// route straight to extauthz; an app without it keeps the client's
// Authorization (oauth2-proxy's answer would replace it).
func checkIdentityJWT(t *testing.T, p authz.Policy, o2p *forwardAuth, o objects, match string) {
	t.Helper()
	copied := slices.Contains(fold(o2p.AuthResponseHeaders), "authorization")
	on := p.IdentityJWT.On() && p.IdentityJWT.Header == "authorization"
	if on != copied {
		t.Errorf("app %s: identity_jwt on %v, but Authorization in oauth2-proxy's authResponseHeaders %v", p.App, on, copied)
	}
	if !on {
		return
	}
	for _, r := range o.routes {
		if r.Match == match+" && Path(`/oidc/backchannel-logout`)" {
			if len(r.Middlewares) != 0 || len(r.Services) != 1 || r.Services[0].Name != "extauthz" {
				t.Errorf("back-channel route %s: want no middleware and the extauthz Service", r.Match)
			}
			return
		}
	}
	t.Errorf("app %s is on identity_jwt but no IngressRoute routes %s && Path(`/oidc/backchannel-logout`) to extauthz", p.App, match)
}
