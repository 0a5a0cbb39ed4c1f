package config

import (
	"maps"
	"net/url"
	"regexp"
	"strings"
)

// redactedPassword replaces passwords in Redacted.
const redactedPassword = "xxxxx"

// Redacted returns a copy of c that is safe to log: the password of every
// database URL (top level and profile sources) and the admin token are
// replaced, and so is log.email_hash_key. c is
// not modified.
func (c Config) Redacted() Config {
	r := c
	r.DatabaseURL = RedactURL(c.DatabaseURL)
	if c.AdminToken != "" {
		r.AdminToken = redactedPassword
	}
	if c.Log.EmailHashKey != "" {
		r.Log.EmailHashKey = redactedPassword
	}
	if c.Apps != nil {
		r.Apps = maps.Clone(c.Apps)
		for name, a := range r.Apps {
			a.ProfileSource.DatabaseURL = RedactURL(a.ProfileSource.DatabaseURL)
			r.Apps[name] = a
		}
	}
	return r
}

var (
	kvPassword    = regexp.MustCompile(`(?i)(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s']\S*)`)
	queryPassword = regexp.MustCompile(`(?i)([?&]password=)[^&#]*`)
)

// RedactURL hides the password of a PostgreSQL connection string, in URL
// form (postgres://user:secret@host/db, ?password=secret) or keyword/value
// form (password=secret). A URL it cannot parse keeps only its scheme, user
// and what follows the last '@'.
func RedactURL(s string) string {
	if s == "" {
		return s
	}
	scheme, rest, isURL := strings.Cut(s, "://")
	if !isURL {
		return kvPassword.ReplaceAllString(s, "${1}"+redactedPassword)
	}
	if u, err := url.Parse(s); err == nil {
		if u.User != nil {
			if _, has := u.User.Password(); has {
				u.User = url.UserPassword(u.User.Username(), redactedPassword)
			}
		}
		if q := u.Query(); q.Has("password") {
			q.Set("password", redactedPassword)
			u.RawQuery = q.Encode()
		}
		return u.String()
	}
	// Multi-host URLs (h1:5432,h2:5432) do not parse with net/url.
	rest = queryPassword.ReplaceAllString(rest, "${1}"+redactedPassword)
	if at := strings.LastIndexByte(rest, '@'); at >= 0 {
		user, _, hasPass := strings.Cut(rest[:at], ":")
		if hasPass {
			rest = user + ":" + redactedPassword + rest[at:]
		}
	}
	return scheme + "://" + rest
}
