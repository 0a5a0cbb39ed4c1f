package config

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/extauthz/extauthz/pkg/authz"
)

// checkHosts checks the hosts of app name: each one an exact host name, an
// IP address or a "*.suffix" wildcard, none listed twice (an app's own
// wildcard may cover its own exact names), and none that
// overlaps a host of an app before it in AppNames order (an exact host
// another app lists, or one another app's wildcard covers, or a wildcard
// equal to, inside or around another app's): then a host selects at most
// one app and no order of matching has to be learnt.
func (c Config) checkHosts(p *problems, name string, hosts []string) {
	base := "apps." + name + ".hosts"
	for i, h := range hosts {
		k := fmt.Sprintf("%s[%d]", base, i)
		if msg := hostSyntax(h); msg != "" {
			p.add(k, "%s, got %q", msg, h)
			continue
		}
		norm, _ := authz.HostPattern(h)
		for j := range i {
			if other, _ := authz.HostPattern(hosts[j]); other == norm {
				p.add(k, "%q is listed twice (also %s[%d])", h, base, j)
				break
			}
		}
		c.checkHostOverlaps(p, k, name, h)
	}
}

// checkHostOverlaps reports host (at key k of app name) if it overlaps a
// host of an app listed before name.
func (c Config) checkHostOverlaps(p *problems, k, name, host string) {
	for _, other := range c.AppNames() {
		if other == name {
			return
		}
		for j, oh := range c.Apps[other].Hosts {
			if hostSyntax(oh) != "" || !authz.HostsOverlap(host, oh) {
				continue
			}
			ok := fmt.Sprintf("apps.%s.hosts[%d]", other, j)
			if at, found := p.pos[ok]; found {
				ok += " (" + at + ")"
			}
			p.add(k, "%q overlaps %q of %s: a host may select one app only", host, oh, ok)
		}
	}
}

// hostSyntax returns what is wrong with a hosts entry, "" if nothing.
func hostSyntax(h string) string {
	const want = `must be a host name such as plane.example.com, an IP address, or a wildcard such as *.example.com`
	norm, suffix := authz.HostPattern(h)
	switch {
	case h != strings.TrimSpace(h) || h == "":
		return want
	case suffix != "":
		if strings.Contains(suffix, "*") || !validDomain(suffix[1:]) {
			return want + " (a wildcard is \"*.\" and a domain)"
		}
		return ""
	case strings.Contains(norm, "*"):
		return want + ` (a wildcard stands only for whole leading labels: "*.example.com")`
	}
	if addr, err := netip.ParseAddr(norm); err == nil {
		if addr.Zone() != "" {
			return want + " (without an IPv6 zone)"
		}
		return ""
	}
	if i := strings.LastIndexByte(norm, ':'); i >= 0 && !strings.ContainsAny(norm[:i], ":/") {
		return want + " (without a port: the request's port is ignored)"
	}
	if !validDomain(norm) || strings.HasPrefix(norm, ".") {
		return want
	}
	return ""
}

// normalizedHosts are hosts in the form authz compares them in.
func normalizedHosts(hosts []string) []string {
	if len(hosts) == 0 {
		return nil
	}
	out := make([]string, len(hosts))
	for i, h := range hosts {
		out[i], _ = authz.HostPattern(h)
	}
	return out
}
