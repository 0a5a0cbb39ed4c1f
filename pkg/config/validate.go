package config

import (
	"errors"
	"fmt"
	"math"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/extauthz/extauthz/pkg/authz"
)

// problems collects validation errors, each prefixed by its key, once,
// and followed by where the config file set that key when it did.
type problems struct {
	errs []error
	seen map[string]bool
	pos  positions
}

func (p *problems) add(key, format string, args ...any) {
	msg := key + ": " + fmt.Sprintf(format, args...)
	if at, ok := p.pos[key]; ok {
		msg += " (" + at + ")"
	}
	if p.seen == nil {
		p.seen = map[string]bool{}
	}
	if !p.seen[msg] {
		p.seen[msg] = true
		p.errs = append(p.errs, errors.New(msg))
	}
}

// Validate reports every problem of c at once (errors.Join), each message
// starting with the dotted key it is about, e.g.
//
//	apps.plane.flush_mode: must be "redirect" or "inline", got "x"
//
// A problem in a top-level default is reported once under its top-level
// key; an app is blamed only for the keys it sets itself. Validate never
// echoes a database URL. (Parse adds the file and line a key was set on.)
func (c Config) Validate() error {
	return c.validate(nil)
}

// validate is Validate, naming for each problem where pos says its key
// was set.
func (c Config) validate(pos positions) error {
	p := problems{pos: pos}
	c.validateServer(&p)
	c.validateSettings(&p, authz.DefaultApp, func(k string, _ ...string) string { return k })
	for _, name := range c.AppNames() {
		c.validateApp(&p, name)
	}
	c.validateSeeds(&p)
	return errors.Join(p.errs...)
}

func (c Config) validateServer(p *problems) {
	checkAddr(p, "grpc_addr", c.GRPCAddr)
	checkAddr(p, "http_addr", c.HTTPAddr)
	if c.GRPCAddr != "" && c.GRPCAddr == c.HTTPAddr && !strings.HasSuffix(c.GRPCAddr, ":0") {
		p.add("http_addr", "must differ from grpc_addr (both %q)", c.GRPCAddr)
	}
	c.validateDatabase(p)
	c.validateTimeouts(p)
	c.validateLimits(p)
	oneOf(p, "grpc_codec", c.GRPCCodec, GRPCCodecWire, GRPCCodecGenerated)
	notNegative(p, "grpc_server.max_connection_age", c.GRPCServer.MaxConnectionAge)
	notNegative(p, "grpc_server.max_connection_age_grace", c.GRPCServer.MaxConnectionAgeGrace)
	c.validateCache(p)
	c.validateAdmin(p)
	c.validateListeners(p)
	oneOf(p, "log.level", c.Log.Level, "debug", "info", "warn", "error")
	oneOf(p, "log.format", c.Log.Format, "json", "text")
	if s := c.Log.DecisionSample; math.IsNaN(s) || s < 0 || s > 1 {
		p.add("log.decision_sample", "must be between 0 and 1, got %v", s)
	}
}

// validateDatabase checks database_url and the pool bounds.
func (c Config) validateDatabase(p *problems) {
	if c.DatabaseURL != "" {
		checkDatabaseURL(p, "database_url", c.DatabaseURL)
	}
	if c.DatabaseMaxConns < 1 {
		p.add("database_max_conns", "must be at least 1, got %d", c.DatabaseMaxConns)
	}
	if c.DatabaseMinConns < 0 {
		p.add("database_min_conns", "must be 0 or more (at most database_max_conns are opened), got %d", c.DatabaseMinConns)
	}
}

// validateTimeouts checks the lookup, Envoy and shutdown durations.
func (c Config) validateTimeouts(p *problems) {
	positive(p, "lookup_timeout", c.LookupTimeout)
	positive(p, "envoy_timeout", c.EnvoyTimeout)
	if c.LookupTimeout > 0 && c.EnvoyTimeout > 0 && c.LookupTimeout >= c.EnvoyTimeout {
		p.add("lookup_timeout", "must be below envoy_timeout (%s), got %s, or Envoy gives up before the service can answer 503", c.EnvoyTimeout, c.LookupTimeout)
	}
	positive(p, "shutdown_timeout", c.ShutdownTimeout)
	notNegative(p, "shutdown_delay", c.ShutdownDelay)
}

// validateLimits checks the auto-registration bounds and the session cap.
func (c Config) validateLimits(p *problems) {
	if r := c.AutoRegisterRate; math.IsNaN(r) || math.IsInf(r, 0) || r < 0 {
		p.add("auto_register_rate", "must be 0 (no bound) or a positive number per second, got %v", r)
	}
	if c.AutoRegisterRate > 0 && c.AutoRegisterBurst < 1 {
		p.add("auto_register_burst", "must be at least 1 with auto_register_rate set, got %d", c.AutoRegisterBurst)
	}
	if c.AutoRegisterConcurrency < 0 {
		p.add("auto_register_concurrency", "must be 0 (no bound) or more, got %d", c.AutoRegisterConcurrency)
	}
	if c.MaxSessionsPerProfile < 0 {
		p.add("max_sessions_per_profile", "must be 0 (no cap) or more, got %d", c.MaxSessionsPerProfile)
	}
}

// minCacheMemory is the smallest cache_memory worth having.
const minCacheMemory ByteSize = 1 << 20

// validateCache checks the lookup cache's size and lifetimes.
func (c Config) validateCache(p *problems) {
	if c.CacheSize < 0 && c.CacheSize != CacheSizeUnset {
		p.add("cache_size", "must be 0 (off) or more, got %d", c.CacheSize)
	}
	if c.CacheMemory < 0 || (c.CacheMemory > 0 && c.CacheMemory < minCacheMemory) {
		p.add("cache_memory", "must be 0 (off) or at least %s, got %s", minCacheMemory, c.CacheMemory)
	}
	positive(p, "cache_ttl", c.CacheTTL)
	if c.NegativeCacheTTL < 0 {
		p.add("negative_cache_ttl", "must be 0 (off) or a positive duration, got %s", c.NegativeCacheTTL)
	} else if c.CacheTTL > 0 && c.NegativeCacheTTL > c.CacheTTL {
		p.add("negative_cache_ttl", "must not exceed cache_ttl (%s), got %s", c.CacheTTL, c.NegativeCacheTTL)
	}
}

// keyFunc names the key a problem about key k is reported under. For an
// app, that is apps.<name>.k when the app sets k or any of the related keys
// the problem also depends on, else the top-level k.
type keyFunc func(k string, related ...string) string

// validateSettings checks the effective settings of app.
func (c Config) validateSettings(p *problems, app string, key keyFunc) {
	s, _ := c.settingsFor(app)
	checkSettingsHeaders(p, s, key)
	checkIdentity(p, s, key)
	oneOf(p, key("on_missing_identity"), string(s.OnMissingIdentity), string(authz.MissingSession), string(authz.MissingDeny))
	oneOf(p, key("on_unknown_identity"), string(s.OnUnknownIdentity), string(authz.UnknownAnonymous), string(authz.UnknownDeny))
	oneOf(p, key("flush_mode"), string(s.FlushMode), string(authz.FlushRedirect), string(authz.FlushInline))
	checkServiceCookie(p, s.Cookie, key)
	checkSessionTimes(p, s, key)
	checkIdentityJWT(p, s, key)
}

// checkSettingsHeaders checks the header names of s, and that the profile
// header names none of the identity headers.
func checkSettingsHeaders(p *problems, s AppSettings, key keyFunc) {
	checkHeader(p, key("identity_header"), s.IdentityHeader, true)
	checkHeader(p, key("user_header"), s.UserHeader, false)
	checkHeader(p, key("name_header"), s.NameHeader, false)
	checkHeader(p, key("profile_header"), s.ProfileHeader, true)
	checkHeader(p, key("reason_header"), s.ReasonHeader, false)
	for i, h := range s.OwnedHeaders {
		checkHeader(p, fmt.Sprintf("%s[%d]", key("owned_headers"), i), h, true)
	}
	ph := strings.ToLower(s.ProfileHeader)
	if ph == "" {
		return
	}
	for _, other := range []struct{ k, v string }{
		{"identity_header", s.IdentityHeader}, {"user_header", s.UserHeader}, {"name_header", s.NameHeader},
	} {
		if strings.EqualFold(other.v, ph) {
			p.add(key("profile_header", other.k), "must differ from %s (both %q): the service overwrites it", other.k, ph)
		}
	}
}

// checkIdentity checks identity_key and default_email_domain.
func checkIdentity(p *problems, s AppSettings, key keyFunc) {
	switch s.IdentityKey {
	case authz.KeyEmail:
	case authz.KeyUser:
		if s.UserHeader == "" {
			p.add(key("identity_key", "user_header"), `"user" needs user_header to be set`)
		}
	default:
		p.add(key("identity_key"), `must be "email" or "user", got %q`, s.IdentityKey)
	}
	if d := emailDomain(s.DefaultEmailDomain); d != "" {
		if e, err := authz.NormalizeEmail("x@" + d); err != nil || e != "x@"+d {
			p.add(key("default_email_domain"), "must be a domain such as example.com, got %q", s.DefaultEmailDomain)
		}
	}
}

// checkServiceCookie checks the service's session cookie and its SameSite.
func checkServiceCookie(p *problems, ck Cookie, key keyFunc) {
	checkCookie(p, key, "cookie", cookieAttrs{ck.Name, ck.Domain, ck.Path, ck.Secure})
	switch canonicalSameSite(ck.SameSite) {
	case "Lax", "Strict":
	case "None":
		if !ck.Secure {
			p.add(key("cookie.secure", "cookie.same_site"), "must be true with same_site None (browsers drop the cookie otherwise)")
		}
	default:
		p.add(key("cookie.same_site"), `must be "Lax", "Strict" or "None", got %q`, ck.SameSite)
	}
}

// checkSessionTimes checks the session lifetimes, the Set-Cookie bound and
// the loop guard's and Retry-After's durations.
func checkSessionTimes(p *problems, s AppSettings, key keyFunc) {
	positive(p, key("session_max_age"), s.SessionMaxAge)
	positive(p, key("renew_after"), s.RenewAfter)
	if s.RenewAfter > 0 && s.SessionMaxAge > 0 && s.RenewAfter >= s.SessionMaxAge {
		p.add(key("renew_after", "session_max_age"), "must be below session_max_age (%s), got %s", formatDuration(s.SessionMaxAge), formatDuration(s.RenewAfter))
	}
	if s.MaxSetCookies < 0 {
		p.add(key("max_set_cookies"), "must be 0 (no limit) or more, got %d", s.MaxSetCookies)
	}
	positive(p, key("loop_guard_window"), s.LoopGuardWindow)
	if s.RetryAfter < time.Second {
		p.add(key("retry_after"), "must be at least 1s (Retry-After counts seconds), got %s", s.RetryAfter)
	}
}

func (c Config) validateApp(p *problems, name string) {
	base := "apps." + name
	if !validAppName(name) {
		p.add(base, "app names may use only letters, digits, '.', '_' and '-'")
	}
	a, ok := c.Apps[name]
	if !ok {
		return
	}
	_, set := c.settingsFor(name)
	c.validateSettings(p, name, func(k string, related ...string) string {
		if set[k] || slices.ContainsFunc(related, func(r string) bool { return set[r] }) {
			return base + "." + k
		}
		return k
	})
	s := c.Effective(name)
	checkNativeCookies(p, base, a.NativeCookies, s.Cookie.Name)
	checkBypass(p, base, a.Bypass)
	checkCredentials(p, base, a.Credentials)
	c.checkHosts(p, name, a.Hosts)
	checkTokenCredentials(p, base, s.IdentityJWT, a.Credentials)
	c.validateSource(p, base+".profile_source", a.ProfileSource, s, set, base)
}

// checkNativeCookies checks an app's native cookies: each one's name and
// attributes, no cookie listed twice, none the service's own (serviceName).
func checkNativeCookies(p *problems, base string, ncs []NativeCookie, serviceName string) {
	type triple struct{ name, domain, path string }
	seen := map[triple]bool{}
	for i, nc := range ncs {
		k := fmt.Sprintf("%s.native_cookies[%d]", base, i)
		checkCookie(p, func(f string, _ ...string) string { return k + "." + f }, "", cookieAttrs{nc.Name, nc.Domain, nc.Path, nc.Secure})
		t := triple{nc.Name, strings.ToLower(nc.Domain), orSlash(nc.Path)}
		if seen[t] {
			p.add(k+".name", "cookie %q with this domain and path is listed twice", nc.Name)
		}
		seen[t] = true
		if nc.Name == serviceName {
			p.add(k+".name", "%q is the service's own session cookie (cookie.name)", nc.Name)
		}
	}
}

// checkBypass checks an app's bypass prefixes: normalised absolute paths,
// not "/".
func checkBypass(p *problems, base string, bypass []string) {
	for i, b := range bypass {
		k := fmt.Sprintf("%s.bypass[%d]", base, i)
		norm, ok := authz.NormalizePath(b)
		switch {
		case !strings.HasPrefix(b, "/"):
			p.add(k, "must start with \"/\", got %q", b)
		case strings.ContainsAny(b, "?#"):
			p.add(k, "must be a path without query or fragment, got %q", b)
		case !ok || strings.TrimRight(norm, "/") != strings.TrimRight(b, "/"):
			p.add(k, "must be a normalised path (no %%-escapes, dot segments or repeated slashes; requests are matched after normalising), got %q", b)
		case strings.TrimRight(b, "/") == "":
			p.add(k, "\"/\" would bypass every request of the app")
		}
	}
}

// checkCredentials checks an app's programmatic credentials, and that no
// two of them match the same header, scheme and prefix.
func checkCredentials(p *problems, base string, crs []Credential) {
	type credKey struct{ header, scheme, prefix string }
	creds := map[credKey]bool{}
	for i, cr := range crs {
		k := fmt.Sprintf("%s.credentials[%d]", base, i)
		checkHeader(p, k+".header", cr.Header, true)
		if cr.Scheme != "" && !isToken(cr.Scheme) {
			p.add(k+".scheme", "must be a single word such as Token or Bearer, got %q", cr.Scheme)
		}
		if strings.ContainsFunc(cr.Prefix, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
			p.add(k+".prefix", "must not contain spaces or control characters, got %q", cr.Prefix)
		}
		oneOf(p, k+".mode", string(cr.Mode), string(authz.CredentialValidate), string(authz.CredentialPassThrough))
		ck := credKey{strings.ToLower(cr.Header), strings.ToLower(cr.Scheme), cr.Prefix}
		if creds[ck] {
			p.add(k, "same header, scheme and prefix as an earlier credential")
		}
		creds[ck] = true
	}
}

// sqlParam finds $n placeholders.
var sqlParam = regexp.MustCompile(`\$([0-9]+)`)

func params(q string) []int {
	var out []int
	for _, m := range sqlParam.FindAllStringSubmatch(q, -1) {
		n, _ := strconv.Atoi(m[1])
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

func (c Config) validateSource(p *problems, k string, ps ProfileSource, s AppSettings, set map[string]bool, base string) {
	switch ps.Kind {
	case "", SourceBuiltin:
		for _, f := range []struct{ key, v string }{
			{"database_url", ps.DatabaseURL}, {"query", ps.Query}, {"register_query", ps.RegisterQuery},
		} {
			if f.v != "" {
				p.add(k+"."+f.key, `is only used with kind "sql"`)
			}
		}
	case SourceSQL:
		checkSQLSource(p, k, ps)
		checkRegisterQuery(p, k, ps, s, set, base)
	default:
		p.add(k+".kind", `must be "builtin" or "sql", got %q`, ps.Kind)
	}
	if ps.MaxConns < 0 {
		p.add(k+".max_conns", "must be 0 (default %d) or more, got %d", DefaultSourceMaxConns, ps.MaxConns)
	}
	if ps.Timeout < 0 {
		p.add(k+".timeout", "must not be negative, got %s", ps.Timeout)
	} else if ps.Timeout > 0 && c.LookupTimeout > 0 && ps.Timeout > c.LookupTimeout {
		p.add(k+".timeout", "must not exceed lookup_timeout (%s), got %s", c.LookupTimeout, ps.Timeout)
	}
}

// checkSQLSource checks an sql profile source's database_url and query.
func checkSQLSource(p *problems, k string, ps ProfileSource) {
	if ps.DatabaseURL == "" {
		p.add(k+".database_url", `is required with kind "sql"`)
	} else {
		checkDatabaseURL(p, k+".database_url", ps.DatabaseURL)
	}
	if strings.TrimSpace(ps.Query) == "" {
		p.add(k+".query", `is required with kind "sql": it returns (id, is_active, is_blocked) for the email $1`)
	} else if got := params(ps.Query); !slices.Equal(got, []int{1}) {
		p.add(k+".query", "must use exactly one parameter, $1 (the email), got %s", paramList(got))
	}
}

// checkRegisterQuery checks an sql profile source's register_query, which
// auto_register needs.
func checkRegisterQuery(p *problems, k string, ps ProfileSource, s AppSettings, set map[string]bool, base string) {
	if ps.RegisterQuery != "" {
		if got := params(ps.RegisterQuery); !slices.Equal(got, []int{1}) && !slices.Equal(got, []int{1, 2}) {
			p.add(k+".register_query", "must use $1 (the email) and optionally $2 (the display name), got %s", paramList(got))
		}
	} else if s.AutoRegister {
		ak := "auto_register"
		if set[ak] {
			ak = base + "." + ak
		}
		p.add(ak, `is on, but app %q has an sql profile_source without register_query`, strings.TrimPrefix(base, "apps."))
	}
}

func paramList(ps []int) string {
	if len(ps) == 0 {
		return "none"
	}
	s := make([]string, len(ps))
	for i, n := range ps {
		s[i] = "$" + strconv.Itoa(n)
	}
	return strings.Join(s, ", ")
}

func (c Config) validateSeeds(p *problems) {
	seen := map[string]int{}
	for i, sp := range c.SeedProfiles {
		k := fmt.Sprintf("seed_profiles[%d].email", i)
		e, err := authz.NormalizeEmail(sp.Email)
		if err != nil || e == "" {
			p.add(k, "must be an email address, got %q", sp.Email)
			continue
		}
		if j, dup := seen[e]; dup {
			p.add(k, "%q is also seed_profiles[%d]", e, j)
		}
		seen[e] = i
	}
}

type cookieAttrs struct {
	name, domain, path string
	secure             bool
}

// checkCookie checks a cookie's name and attributes, including the rules of
// the __Host- and __Secure- prefixes that browsers enforce.
func checkCookie(p *problems, key keyFunc, prefix string, c cookieAttrs) {
	k := func(f string, related ...string) string {
		if prefix != "" {
			f = prefix + "." + f
			for i, r := range related {
				related[i] = prefix + "." + r
			}
		}
		return key(f, related...)
	}
	if !isToken(c.name) {
		p.add(k("name"), "must be a valid cookie name (letters, digits and !#$%%&'*+-.^_`|~), got %q", c.name)
	}
	if c.domain != "" && !validDomain(c.domain) {
		p.add(k("domain"), "must be a domain name such as example.com, got %q", c.domain)
	}
	path := orSlash(c.path)
	if path[0] != '/' || strings.ContainsFunc(path, func(r rune) bool { return r <= ' ' || r == ';' || r == 0x7f }) {
		p.add(k("path"), "must start with \"/\" and contain no spaces, ';' or control characters, got %q", c.path)
	}
	checkCookiePrefix(p, k, c, path)
}

// checkCookiePrefix checks the rules browsers enforce for the __Host- and
// __Secure- name prefixes; path is the cookie's path, "/" when unset.
func checkCookiePrefix(p *problems, k keyFunc, c cookieAttrs, path string) {
	if strings.HasPrefix(c.name, "__Host-") {
		if !c.secure {
			p.add(k("secure", "name"), "must be true for a __Host- cookie (%s)", c.name)
		}
		if path != "/" {
			p.add(k("path", "name"), "must be \"/\" for a __Host- cookie (%s), got %q", c.name, c.path)
		}
		if c.domain != "" {
			p.add(k("domain", "name"), "must be empty for a __Host- cookie (%s), got %q", c.name, c.domain)
		}
	} else if strings.HasPrefix(c.name, "__Secure-") && !c.secure {
		p.add(k("secure", "name"), "must be true for a __Secure- cookie (%s)", c.name)
	}
}

func checkHeader(p *problems, key, h string, required bool) {
	if h == "" {
		if required {
			p.add(key, "must be set")
		}
		return
	}
	if !isToken(h) {
		p.add(key, "must be a valid header name, got %q", h)
	}
}

func checkAddr(p *problems, key, addr string) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		p.add(key, "must be host:port such as :9191 or 127.0.0.1:9191, got %q", addr)
		return
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		p.add(key, "port must be a number 0-65535, got %q", port)
	}
	if strings.ContainsAny(host, " /") {
		p.add(key, "host must be a name or IP address, got %q", host)
	}
}

// checkDatabaseURL checks the shape of a PostgreSQL connection string
// without ever echoing it (it may hold a password).
func checkDatabaseURL(p *problems, key, s string) {
	scheme, _, isURL := strings.Cut(s, "://")
	if isURL {
		if scheme != "postgres" && scheme != "postgresql" {
			p.add(key, `must be a postgres:// or postgresql:// URL (value not shown)`)
		}
		return
	}
	if !strings.Contains(s, "=") {
		p.add(key, `must be a postgres:// URL or a "host=… dbname=…" connection string (value not shown)`)
	}
}

func positive(p *problems, key string, d time.Duration) {
	if d <= 0 {
		p.add(key, "must be a positive duration, got %s", d)
	}
}

func notNegative(p *problems, key string, d time.Duration) {
	if d < 0 {
		p.add(key, "must be 0 or a positive duration, got %s", d)
	}
}

func oneOf(p *problems, key, v string, allowed ...string) {
	if slices.Contains(allowed, v) {
		return
	}
	q := make([]string, len(allowed))
	for i, a := range allowed {
		q[i] = strconv.Quote(a)
	}
	var list string
	if len(q) == 2 {
		list = q[0] + " or " + q[1]
	} else {
		list = strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1]
	}
	p.add(key, "must be %s, got %q", list, v)
}

// isToken reports whether s is an RFC 9110 token (header and cookie names).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

func validDomain(d string) bool {
	d = strings.TrimPrefix(d, ".")
	if d == "" || len(d) > 253 {
		return false
	}
	for _, label := range strings.Split(d, ".") {
		if !validLabel(label) {
			return false
		}
	}
	return true
}

// validLabel reports whether label is a DNS label: 1 to 63 letters, digits
// and '-', not starting or ending with '-'.
func validLabel(label string) bool {
	if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
		return false
	}
	for i := 0; i < len(label); i++ {
		c := label[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

func validAppName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// minAdminToken is the shortest admin_token accepted.
const minAdminToken = 16

// validateAdmin checks admin_addr and admin_token. The token is a secret:
// problems name it, never show it.
func (c Config) validateAdmin(p *problems) {
	if c.AdminAddr == "" {
		return
	}
	checkAddr(p, "admin_addr", c.AdminAddr)
	for _, o := range []struct{ k, v string }{{"grpc_addr", c.GRPCAddr}, {"http_addr", c.HTTPAddr}} {
		if c.AdminAddr == o.v && !strings.HasSuffix(c.AdminAddr, ":0") {
			p.add("admin_addr", "must differ from %s (both %q)", o.k, c.AdminAddr)
		}
	}
	switch {
	case c.AdminToken == "":
		p.add("admin_token", "is required when admin_addr is set: every admin call must carry it as a bearer token")
	case len(c.AdminToken) < minAdminToken:
		p.add("admin_token", "must be at least %d characters, got %d", minAdminToken, len(c.AdminToken))
	case strings.TrimSpace(c.AdminToken) != c.AdminToken || strings.ContainsAny(c.AdminToken, "\r\n\t "):
		p.add("admin_token", "must not contain whitespace")
	}
}
