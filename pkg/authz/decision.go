package authz

// Header is one header name (lower-case) and value.
type Header struct {
	Name  string
	Value string
}

// Decision is the outcome of Decide as plain data. Front ends (pkg/envoy,
// pkg/httpcheck) render it for their wire format and add nothing of their own
// beyond what the format demands.
type Decision struct {
	// Allow forwards the request upstream; otherwise Status is the local reply.
	Allow bool
	// Status is the HTTP status of the local reply on deny (302, 400, 401,
	// 403, 500, 503); 200 on allow.
	Status int
	Reason Reason
	// ProfileID is the profile the request is attributed to ("" for anonymous
	// and for denials without one).
	ProfileID string
	// App is the policy the decision was made under.
	App string

	// UpstreamSet are request headers to set on the upstream request with
	// overwrite semantics (x-profile-id, a rewritten cookie header).
	UpstreamSet []Header
	// UpstreamRemove are request headers to strip before the upstream sees
	// them (owned headers a client may have sent; cookie when nothing is left).
	UpstreamRemove []string

	// SetCookies are Set-Cookie values for the browser, in order; front ends
	// add each as its own header line (append semantics).
	SetCookies []string
	// ResponseHeaders go to the browser (on allow: added to the upstream's
	// response; on deny: part of the local reply), e.g. x-extauthz-reason,
	// cache-control, retry-after, location, clear-site-data, content-type.
	ResponseHeaders []Header
	// Body is the local reply body on deny.
	Body string

	// Flushed reports that this decision expired cookies because the person
	// at the browser changed or lost access (for metrics and logs).
	Flushed bool
	// Renewed reports a session renewal; Rekeyed a new session.
	Renewed bool
	Rekeyed bool

	// TraceID is the trace of the check's span, in hex, when a tracing
	// wrapper made one (pkg/tracing); the decision log carries it so that a
	// log line leads to its trace. The engine never sets it.
	TraceID string
}

// HeadersValid reports whether every header name and value the decision
// would send passes the front end's own rules (okName, okValue): a front end
// that cannot carry a value must fail closed rather than send something else.
func (d *Decision) HeadersValid(okName, okValue func(string) bool) bool {
	for _, h := range d.UpstreamSet {
		if !okName(h.Name) || !okValue(h.Value) {
			return false
		}
	}
	for _, n := range d.UpstreamRemove {
		if !okName(n) {
			return false
		}
	}
	for _, c := range d.SetCookies {
		if !okValue(c) {
			return false
		}
	}
	for _, h := range d.ResponseHeaders {
		if !okName(h.Name) || !okValue(h.Value) {
			return false
		}
	}
	return true
}

// ResponseHeader returns the first browser response header called name.
func (d Decision) ResponseHeader(name string) (string, bool) {
	for _, h := range d.ResponseHeaders {
		if h.Name == name {
			return h.Value, true
		}
	}
	return "", false
}

// Upstream returns the upstream header value set for name.
func (d Decision) Upstream(name string) (string, bool) {
	for _, h := range d.UpstreamSet {
		if h.Name == name {
			return h.Value, true
		}
	}
	return "", false
}
