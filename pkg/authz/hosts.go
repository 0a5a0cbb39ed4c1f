package authz

import (
	"fmt"
	"net/netip"
	"strings"
)

// Host selection: a request that names no app (no context_extensions["app"]
// from Envoy, no app in the HTTP check's path, query or header) is given to
// the app whose Policy.Hosts match its host, else to DefaultApp. Istio's
// CUSTOM provider cannot send context_extensions, so this is how a mesh
// selects apps.
//
// A pattern is an exact name ("plane.example.com", an IPv4 address or an
// IPv6 address without brackets) or a wildcard "*.suffix", which matches
// every name that ends in ".suffix" with at least one label before it (any
// number of them, as Envoy's virtual host domains do); "*.example.com"
// does not match "example.com". Patterns of different apps never overlap
// (New refuses them), so at most one app matches a host and the order of
// apps does not matter.

// NormalizeHost returns a request's host (":authority" or Host) in the
// form patterns are compared in: port removed, IPv6 brackets removed,
// trailing dot removed, ASCII lower-case. It returns "" for a value that is
// not a host.
func NormalizeHost(h string) string {
	h = strings.TrimSpace(h)
	if strings.HasPrefix(h, "[") {
		end := strings.IndexByte(h, ']')
		if end < 0 {
			return ""
		}
		rest := h[end+1:]
		if rest != "" && !isPort(rest) {
			return ""
		}
		h = h[1:end]
		if _, err := netip.ParseAddr(h); err != nil {
			return ""
		}
		return LowerASCII(h)
	}
	if strings.Count(h, ":") > 1 { // a bare IPv6 literal: no port to strip
		if _, err := netip.ParseAddr(h); err != nil {
			return ""
		}
		return LowerASCII(h)
	}
	if i := strings.IndexByte(h, ':'); i >= 0 {
		if !isPort(h[i:]) {
			return ""
		}
		h = h[:i]
	}
	return LowerASCII(strings.TrimSuffix(h, "."))
}

// isPort reports whether s is ":" followed by up to five digits.
func isPort(s string) bool {
	if len(s) < 2 || len(s) > 6 || s[0] != ':' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// HostPattern reports how a configured pattern is compared: its normal
// form, and for a wildcard the suffix it matches (".example.com" for
// "*.example.com"; "" for an exact name).
func HostPattern(p string) (norm, suffix string) {
	p = strings.TrimSpace(p)
	if rest, ok := strings.CutPrefix(p, "*."); ok {
		norm = "*." + LowerASCII(strings.TrimSuffix(rest, "."))
		return norm, norm[1:]
	}
	if strings.HasPrefix(p, "[") && strings.HasSuffix(p, "]") {
		p = p[1 : len(p)-1]
	}
	return LowerASCII(strings.TrimSuffix(p, ".")), ""
}

// HostsOverlap reports whether some host would match both patterns a and b
// (each as HostPattern reads it): they are equal, one is an exact name a
// wildcard covers, or one wildcard's suffix ends in the other's.
func HostsOverlap(a, b string) bool {
	na, sa := HostPattern(a)
	nb, sb := HostPattern(b)
	switch {
	case na == nb:
		return true
	case sa == "" && sb == "":
		return false
	case sa == "":
		return strings.HasSuffix(na, sb)
	case sb == "":
		return strings.HasSuffix(nb, sa)
	}
	return strings.HasSuffix(sa, sb) || strings.HasSuffix(sb, sa)
}

// hostTable maps hosts to the app that lists them.
type hostTable struct {
	exact map[string]string // normalised name → app
	wild  map[string]string // ".suffix" → app
}

// add records app's patterns, reporting any that overlaps a pattern of
// another app already added.
func (t *hostTable) add(app string, patterns []string, owners map[string]string) []error {
	var errs []error
	for _, p := range patterns {
		norm, suffix := HostPattern(p)
		for other, owner := range owners {
			if owner != app && HostsOverlap(norm, other) {
				errs = append(errs, fmt.Errorf("authz: app %q host %q overlaps app %q host %q", app, p, owner, other))
			}
		}
		owners[norm] = app
		if suffix != "" {
			t.wild[suffix] = app
		} else {
			t.exact[norm] = app
		}
	}
	return errs
}

// newHostTable builds the table of apps' hosts, refusing overlaps.
func newHostTable(apps []App) (hostTable, []error) {
	t := hostTable{exact: map[string]string{}, wild: map[string]string{}}
	owners := map[string]string{}
	var errs []error
	for _, a := range apps {
		errs = append(errs, t.add(a.Policy.App, a.Policy.Hosts, owners)...)
	}
	return t, errs
}

// lookup returns the app whose patterns match host ("" for none): an exact
// name, else the wildcards from the longest suffix of host to the shortest.
func (t hostTable) lookup(host string) string {
	if len(t.exact) == 0 && len(t.wild) == 0 {
		return ""
	}
	h := NormalizeHost(host)
	if h == "" {
		return ""
	}
	if app, ok := t.exact[h]; ok {
		return app
	}
	for i := strings.IndexByte(h, '.'); i > 0 && len(t.wild) > 0; {
		if app, ok := t.wild[h[i:]]; ok {
			return app
		}
		j := strings.IndexByte(h[i+1:], '.')
		if j < 0 {
			break
		}
		i += 1 + j
	}
	return ""
}

// AppFor returns the app a request is decided for: app when the front end
// named one, else the app whose hosts match host, else DefaultApp.
func (e *Engine) AppFor(app, host string) string {
	if app != "" {
		return app
	}
	if a := e.hosts.lookup(host); a != "" {
		return a
	}
	return DefaultApp
}
