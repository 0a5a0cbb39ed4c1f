package harness

import (
	"slices"
	"strings"
)

// Jar is one browser's cookies for one host-only app, in the order they
// were set.
type Jar struct {
	order []string
	vals  map[string]string
}

// NewJar returns an empty jar.
func NewJar() *Jar { return &Jar{vals: map[string]string{}} }

// Set stores a cookie as a browser would.
func (j *Jar) Set(name, value string) {
	if _, ok := j.vals[name]; !ok {
		j.order = append(j.order, name)
	}
	j.vals[name] = value
}

// Apply takes a response's Set-Cookie lines the way a browser does for a
// host-only app: an expiry (Max-Age=0) deletes, a value sets.
func (j *Jar) Apply(setCookies []string) {
	for _, sc := range setCookies {
		nv, attrs, _ := strings.Cut(sc, ";")
		name, value, _ := strings.Cut(nv, "=")
		if strings.Contains(attrs, "Max-Age=0") {
			delete(j.vals, name)
			j.order = slices.DeleteFunc(j.order, func(n string) bool { return n == name })
			continue
		}
		j.Set(name, value)
	}
}

// Header is the Cookie header the browser sends ("" with no cookie).
func (j *Jar) Header() string {
	parts := make([]string, 0, len(j.order))
	for _, n := range j.order {
		parts = append(parts, n+"="+j.vals[n])
	}
	return strings.Join(parts, "; ")
}

// Value returns the cookie name's value and whether the jar holds it.
func (j *Jar) Value(name string) (string, bool) {
	v, ok := j.vals[name]
	return v, ok
}
