// Package spoof is the spoofing and bad-input matrix: table-driven, against
// the real binary on PostgreSQL, every row sent over gRPC with Envoy's
// header map, over gRPC with raw header_map entries (encode_raw_headers),
// and over the HTTP check endpoint (/check/<app>) as raw bytes on a TCP
// connection, so that nothing the Go HTTP client would refuse to send is
// left untested.
package spoof

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc/codes"

	"github.com/extauthz/extauthz/internal/pgtest"
	"github.com/extauthz/extauthz/test/harness"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const (
	sessionCookie = "extauthz_session"
	// marker is planted in hostile values; it must never come back in a
	// response header, name or value.
	marker = "INJECTED"
	// shortAge is the session_max_age of app "short".
	shortAge = 2 * time.Second
)

// transport is one way of presenting a request to the service.
type transport string

const (
	grpcMap transport = "grpc-map" // attributes.request.http.headers
	grpcRaw transport = "grpc-raw" // header_map, one entry per line
	httpRaw transport = "http"     // /check/<app>, raw bytes on TCP
)

var transports = []transport{grpcMap, grpcRaw, httpRaw}

// hdr is one header line as a client sent it.
type hdr struct{ name, value string }

// req is a request independent of transport.
type req struct {
	app     string
	method  string
	path    string
	headers []hdr
}

// res is a response independent of transport.
type res struct {
	status     int
	reason     string
	profile    string // upstream x-profile-id on allow ("" if none)
	setCookies []string
	// headers are every header the service sent (names lower-case):
	// upstream mutations and browser headers alike.
	headers []hdr
	// removed lists gRPC headers_to_remove.
	removed []string
	took    time.Duration
}

func (r res) token() string {
	for _, c := range r.setCookies {
		if v, ok := strings.CutPrefix(c, sessionCookie+"="); ok {
			v, _, _ = strings.Cut(v, ";")
			if v != "" {
				return v
			}
		}
	}
	return ""
}

func (r res) expires() bool {
	for _, c := range r.setCookies {
		if strings.HasPrefix(c, sessionCookie+"=;") && strings.Contains(c, "Max-Age=0") {
			return true
		}
	}
	return false
}

func (r res) header(name string) string {
	for _, h := range r.headers {
		if h.name == name {
			return h.value
		}
	}
	return ""
}

// env is the running service and what the rows need of it.
type env struct {
	t     *testing.T
	svc   *harness.Service
	alice string // profile ids
	bob   string
}

func (e *env) send(tr transport, q req) res {
	e.t.Helper()
	if q.method == "" {
		q.method = "GET"
	}
	if q.path == "" {
		q.path = "/"
	}
	if q.app == "" {
		q.app = "wiki"
	}
	start := time.Now()
	var r res
	if tr == httpRaw {
		r = e.sendHTTP(q)
	} else {
		r = e.sendGRPC(q, tr == grpcRaw)
	}
	r.took = time.Since(start)
	return r
}

func (e *env) sendGRPC(q req, raw bool) res {
	e.t.Helper()
	h := &authv3.AttributeContext_HttpRequest{Method: q.method, Host: "app.example.com", Path: q.path, Scheme: "https", Protocol: "HTTP/1.1"}
	pseudo := []hdr{{":method", q.method}, {":authority", "app.example.com"}, {":path", q.path}, {":scheme", "https"}}
	all := append(pseudo, q.headers...)
	if raw {
		hm := &corev3.HeaderMap{}
		for _, x := range all {
			hm.Headers = append(hm.Headers, &corev3.HeaderValue{Key: strings.ToLower(x.name), RawValue: []byte(x.value)})
		}
		h.HeaderMap = hm
	} else {
		// Envoy's map: lower-case keys, repeated headers joined with ","
		// (cookies with "; "), non-UTF-8 bytes replaced by "!".
		m := map[string]string{}
		for _, x := range all {
			k, v := strings.ToLower(x.name), strings.ToValidUTF8(x.value, "!")
			if old, ok := m[k]; ok {
				sep := ","
				if k == "cookie" {
					sep = "; "
				}
				v = old + sep + v
			}
			m[k] = v
		}
		h.Headers = m
	}
	cr := &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Source:            &authv3.AttributeContext_Peer{},
		Request:           &authv3.AttributeContext_Request{Http: h},
		ContextExtensions: map[string]string{"app": q.app},
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := authv3.NewAuthorizationClient(e.svc.Conn()).Check(ctx, cr)
	if err != nil {
		e.t.Fatalf("Check: %v (a denial must be a successful RPC)", err)
	}
	var r res
	addAll := func(hs []*corev3.HeaderValueOption) {
		for _, x := range hs {
			k, v := strings.ToLower(x.GetHeader().GetKey()), x.GetHeader().GetValue()
			if len(x.GetHeader().GetRawValue()) > 0 {
				v += string(x.GetHeader().GetRawValue())
			}
			r.headers = append(r.headers, hdr{k, v})
			switch k {
			case "set-cookie":
				r.setCookies = append(r.setCookies, v)
			case "x-extauthz-reason":
				r.reason = v
			}
		}
	}
	if codes.Code(resp.GetStatus().GetCode()) == codes.OK {
		ok := resp.GetOkResponse()
		r.status = 200
		addAll(ok.GetHeaders())
		for _, x := range ok.GetHeaders() {
			if strings.EqualFold(x.GetHeader().GetKey(), "x-profile-id") {
				r.profile = x.GetHeader().GetValue()
			}
		}
		r.removed = ok.GetHeadersToRemove()
		addAll(ok.GetResponseHeadersToAdd())
		return r
	}
	d := resp.GetDeniedResponse()
	r.status = int(d.GetStatus().GetCode())
	if r.status == 0 {
		r.status = 403
	}
	addAll(d.GetHeaders())
	return r
}

// sendHTTP writes the check request byte for byte, as a proxy would.
func (e *env) sendHTTP(q req) res {
	e.t.Helper()
	conn, err := net.DialTimeout("tcp", e.svc.CheckAddr, 5*time.Second)
	if err != nil {
		e.t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	var b bytes.Buffer
	fmt.Fprintf(&b, "GET /check/%s HTTP/1.1\r\nHost: extauthz\r\nX-Forwarded-Method: %s\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: app.example.com\r\nX-Forwarded-Uri: %s\r\nConnection: close\r\n",
		q.app, q.method, q.path)
	for _, x := range q.headers {
		fmt.Fprintf(&b, "%s: %s\r\n", x.name, x.value)
	}
	b.WriteString("\r\n")
	if _, err := conn.Write(b.Bytes()); err != nil {
		e.t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		e.t.Fatalf("reading the check response: %v", err)
	}
	resp.Body.Close()
	r := res{status: resp.StatusCode, reason: resp.Header.Get("X-Extauthz-Reason")}
	for k, vs := range resp.Header {
		for _, v := range vs {
			r.headers = append(r.headers, hdr{strings.ToLower(k), v})
		}
	}
	r.setCookies = resp.Header.Values("Set-Cookie")
	if r.status == 200 {
		r.profile = resp.Header.Get("X-Profile-Id")
	}
	return r
}

// signIn creates a fresh session of email on app over gRPC and returns its
// token.
func (e *env) signIn(app, email string) string {
	e.t.Helper()
	r := e.send(grpcMap, req{app: app, headers: []hdr{{"x-auth-request-email", email}}})
	tok := r.token()
	if r.status != 200 || tok == "" {
		e.t.Fatalf("sign-in of %s on %s: %+v", email, app, r)
	}
	return tok
}

// row is one line of the matrix.
type row struct {
	name string
	// only limits the row to some transports (nil: all three).
	only []transport
	// build makes the request, creating what it needs (fresh sessions).
	build func(e *env) req
	// check asserts what this row is about; the common checks run too.
	check func(t *testing.T, e *env, r res)
}

func emailH(v string) hdr  { return hdr{"x-auth-request-email", v} }
func cookieH(v string) hdr { return hdr{"cookie", v} }

func sess(tok string) string { return sessionCookie + "=" + tok }

// status asserts the status and (when non-empty) the reason.
func status(t *testing.T, r res, code int, reason string) {
	t.Helper()
	if r.status != code || (reason != "" && r.reason != reason) {
		t.Fatalf("got %d %q, want %d %q\n%+v", r.status, r.reason, code, reason, r)
	}
}

func noCookies(t *testing.T, r res) {
	t.Helper()
	if len(r.setCookies) > 0 {
		t.Fatalf("Set-Cookie on %d %s: %v", r.status, r.reason, r.setCookies)
	}
}

// common are the checks every row gets on every transport.
func common(t *testing.T, e *env, r res) {
	t.Helper()
	for _, h := range r.headers {
		if strings.ContainsAny(h.name+h.value, "\r\n\x00") {
			t.Errorf("response header with CR/LF/NUL: %q: %q", h.name, h.value)
		}
		if strings.Contains(strings.ToUpper(h.name+h.value), marker) {
			t.Errorf("hostile input reflected in a response header: %q: %q", h.name, h.value)
		}
	}
	for _, c := range r.setCookies {
		if !strings.HasPrefix(c, sessionCookie+"=") && !strings.HasPrefix(c, "wiki_sid=;") {
			t.Errorf("Set-Cookie for a cookie the service does not own: %q", c)
		}
	}
	if r.status == 200 {
		// Invariant 1: whatever the client sent as x-profile-id never
		// reaches the app: overwritten with a profile the service
		// resolved, or removed.
		switch r.profile {
		case "", e.alice, e.bob:
		default:
			t.Errorf("allowed with profile id %q that no lookup returned", r.profile)
		}
		if r.profile == "" && len(r.removed) > 0 && !contains(r.removed, "x-profile-id") {
			t.Errorf("anonymous allow keeps the client's x-profile-id: removed %v", r.removed)
		}
	} else if r.header("cache-control") != "no-store" && r.reason != "" {
		t.Errorf("deny %d %s without Cache-Control: no-store", r.status, r.reason)
	}
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

func TestSpoofMatrix(t *testing.T) {
	cluster := pgtest.NewCluster(t)
	db := cluster.NewDatabase(t)
	dbenv := []string{"EXTAUTHZ_DATABASE_URL=" + db}
	harness.CLI(t, dbenv, "migrate")
	e := &env{t: t}
	e.alice = strings.TrimSpace(harness.CLI(t, dbenv, "profile", "add", "--email", "alice@example.com"))
	e.bob = strings.TrimSpace(harness.CLI(t, dbenv, "profile", "add", "--email", "bob@example.com"))
	harness.CLI(t, dbenv, "profile", "add", "--email", "mallory@example.com", "--blocked")
	e.svc = harness.Start(t, harness.Options{DatabaseURL: db, Config: `log:
  level: warn
apps:
  wiki:
    native_cookies:
      - {name: wiki_sid, path: /}
  tracker: {}
  gated:
    bypass: [/god-mode]
  short:
    session_max_age: 2s
    renew_after: 1s
`})

	// Sessions of app "short" (session_max_age 2s), one per transport,
	// used by the last row once they have expired.
	shortTok := map[transport]string{}
	shortAt := time.Now()
	for _, tr := range transports {
		shortTok[tr] = e.signIn("short", "alice@example.com")
	}

	rows := []row{
		{name: "spoofed x-profile-id, no identity",
			build: func(e *env) req { return req{headers: []hdr{{"x-profile-id", e.bob}}} },
			check: func(t *testing.T, e *env, r res) {
				status(t, r, 200, "anonymous")
				if r.profile != "" {
					t.Fatalf("anonymous request got profile %q", r.profile)
				}
			}},
		{name: "spoofed x-profile-id beside alice's identity",
			build: func(e *env) req { return req{headers: []hdr{emailH("alice@example.com"), {"x-profile-id", e.bob}}} },
			check: func(t *testing.T, e *env, r res) {
				status(t, r, 200, "rekey")
				if r.profile != e.alice {
					t.Fatalf("profile %q, want alice", r.profile)
				}
			}},
		{name: "spoofed x-profile-id on a live session",
			build: func(e *env) req {
				return req{headers: []hdr{emailH("alice@example.com"), cookieH(sess(e.signIn("wiki", "alice@example.com"))), {"X-Profile-Id", e.bob}}}
			},
			check: func(t *testing.T, e *env, r res) {
				status(t, r, 200, "session_match")
				noCookies(t, r)
				if r.profile != e.alice {
					t.Fatalf("profile %q, want alice", r.profile)
				}
			}},
		{name: "client x-extauthz-* headers are not believed or echoed",
			build: func(e *env) req {
				return req{headers: []hdr{
					{"x-extauthz-reason", "session_match-" + marker}, {"x-extauthz-status", "200"},
					{"x-extauthz-cookie", sess(marker)}, {"x-extauthz-set-cookie-1", sess(marker)},
					{"x-extauthz-app", "tracker"},
				}}
			},
			check: func(t *testing.T, e *env, r res) {
				status(t, r, 200, "anonymous")
				noCookies(t, r)
			}},
		{name: "x-extauthz-app cannot move a session to another app",
			build: func(e *env) req {
				tok := e.signIn("wiki", "alice@example.com")
				return req{app: "wiki", headers: []hdr{emailH("alice@example.com"), cookieH(sess(tok)), {"x-extauthz-app", "tracker"}}}
			},
			check: func(t *testing.T, e *env, r res) { status(t, r, 200, "session_match") }},
		{name: "identity header twice, different values",
			build: func(e *env) req {
				return req{headers: []hdr{emailH("alice@example.com"), emailH("bob@example.com")}}
			},
			check: func(t *testing.T, e *env, r res) { status(t, r, 400, "identity_malformed"); noCookies(t, r) }},
		{name: "identity header twice, different values, with a live session",
			build: func(e *env) req {
				tok := e.signIn("wiki", "alice@example.com")
				return req{headers: []hdr{emailH("alice@example.com"), emailH("bob@example.com"), cookieH(sess(tok))}}
			},
			check: func(t *testing.T, e *env, r res) { status(t, r, 400, "identity_malformed"); noCookies(t, r) }},
		{name: "identity as one comma-joined value",
			build: func(e *env) req { return req{headers: []hdr{emailH("alice@example.com,bob@example.com")}} },
			check: func(t *testing.T, e *env, r res) { status(t, r, 400, "identity_malformed"); noCookies(t, r) }},
		{name: "user header twice, different values",
			build: func(e *env) req {
				return req{headers: []hdr{emailH("alice@example.com"), {"x-auth-request-user", "alice"}, {"x-auth-request-user", "bob"}}}
			},
			check: func(t *testing.T, e *env, r res) { status(t, r, 400, "identity_malformed"); noCookies(t, r) }},
		{name: "identity twice, same value after normalisation",
			build: func(e *env) req {
				return req{headers: []hdr{emailH("alice@example.com"), emailH(" ALICE@example.com")}}
			},
			check: func(t *testing.T, e *env, r res) {
				status(t, r, 200, "rekey")
				if r.profile != e.alice {
					t.Fatalf("profile %q", r.profile)
				}
			}},
		{name: "CR/LF in the identity",
			only: []transport{grpcMap, grpcRaw}, // HTTP/1.1 cannot carry it: a new line is a new header
			build: func(e *env) req {
				return req{headers: []hdr{emailH("alice@example.com\r\nx-evil: " + marker)}}
			},
			check: func(t *testing.T, e *env, r res) { status(t, r, 400, "identity_malformed"); noCookies(t, r) }},
		{name: "CR/LF in a cookie value",
			build: func(e *env) req {
				return req{headers: []hdr{emailH("alice@example.com"), cookieH(sessionCookie + "=v1.abc\r\nSet-Cookie: evil=" + marker)}}
			},
			check: func(t *testing.T, e *env, r res) {
				if r.status == 200 && r.profile != e.alice {
					t.Fatalf("profile %q", r.profile)
				}
			}},
		{name: "CR/LF in the path of a redirecting flush",
			only: []transport{grpcMap, grpcRaw},
			build: func(e *env) req {
				tok := e.signIn("wiki", "alice@example.com")
				return req{method: "GET", path: "/x\r\nLocation: https://evil.example/" + marker,
					headers: []hdr{emailH("bob@example.com"), {"accept", "text/html"}, cookieH(sess(tok) + "; wiki_sid=old")}}
			},
			check: func(t *testing.T, e *env, r res) {
				if r.status == 302 && !strings.HasPrefix(r.header("location"), "/") {
					t.Fatalf("location %q", r.header("location"))
				}
				if r.status == 200 && r.profile == e.alice {
					t.Fatal("the previous person's profile after a change")
				}
			}},
		{name: "invalid UTF-8 in the identity",
			build: func(e *env) req { return req{headers: []hdr{emailH("\xffalice@example.com")}} },
			check: func(t *testing.T, e *env, r res) {
				// Envoy's map turns the byte into "!": still not alice.
				if r.status == 200 && r.profile != "" {
					t.Fatalf("invalid identity resolved to %q", r.profile)
				}
				if r.status != 200 {
					status(t, r, 400, "")
				}
				noCookies(t, r)
			}},
		{name: "invalid UTF-8 in the cookie header",
			build: func(e *env) req {
				return req{headers: []hdr{emailH("alice@example.com"), cookieH(sessionCookie + "=v1.\xff\xfe; other=\xc3")}}
			},
			check: func(t *testing.T, e *env, r res) {
				status(t, r, 200, "rekey")
				if r.profile != e.alice {
					t.Fatalf("profile %q", r.profile)
				}
			}},
		{name: "forged token of the right shape",
			build: func(e *env) req {
				return req{headers: []hdr{emailH("alice@example.com"), cookieH(sess("v1." + strings.Repeat("A", 43)))}}
			},
			check: func(t *testing.T, e *env, r res) {
				status(t, r, 200, "rekey")
				if r.profile != e.alice || r.token() == "" || r.token() == "v1."+strings.Repeat("A", 43) {
					t.Fatalf("forged token: %+v", r)
				}
			}},
		{name: "forged token, no identity",
			build: func(e *env) req { return req{headers: []hdr{cookieH(sess("v1." + strings.Repeat("B", 43)))}} },
			check: func(t *testing.T, e *env, r res) {
				status(t, r, 200, "anonymous")
				if !r.expires() || r.profile != "" {
					t.Fatalf("forged cookie kept or resolved: %+v", r)
				}
			}},
		{name: "truncated real token, no identity",
			build: func(e *env) req {
				tok := e.signIn("wiki", "alice@example.com")
				return req{headers: []hdr{cookieH(sess(tok[:len(tok)-5]))}}
			},
			check: func(t *testing.T, e *env, r res) {
				status(t, r, 200, "anonymous")
				if r.profile != "" || !r.expires() {
					t.Fatalf("truncated token: %+v", r)
				}
			}},
		{name: "truncated real token with the identity",
			build: func(e *env) req {
				tok := e.signIn("wiki", "alice@example.com")
				return req{headers: []hdr{emailH("alice@example.com"), cookieH(sess(tok[:20]))}}
			},
			check: func(t *testing.T, e *env, r res) { status(t, r, 200, "rekey") }},
		{name: "token of app wiki replayed on app tracker, no identity",
			build: func(e *env) req {
				return req{app: "tracker", headers: []hdr{cookieH(sess(e.signIn("wiki", "alice@example.com")))}}
			},
			check: func(t *testing.T, e *env, r res) {
				status(t, r, 200, "anonymous")
				if r.profile != "" {
					t.Fatalf("another app's token yielded %q", r.profile)
				}
			}},
		{name: "token of app wiki replayed on app tracker by another person",
			build: func(e *env) req {
				return req{app: "tracker", headers: []hdr{emailH("bob@example.com"), cookieH(sess(e.signIn("wiki", "alice@example.com")))}}
			},
			check: func(t *testing.T, e *env, r res) {
				status(t, r, 200, "")
				if r.profile != e.bob {
					t.Fatalf("profile %q, want bob", r.profile)
				}
			}},
		{name: "token of app wiki replayed on app tracker by its owner",
			build: func(e *env) req {
				return req{app: "tracker", headers: []hdr{emailH("alice@example.com"), cookieH(sess(e.signIn("wiki", "alice@example.com")))}}
			},
			check: func(t *testing.T, e *env, r res) {
				// The browser sends tracker wiki's cookie: they share its
				// cookie scope, and the same person's binding is taken as
				// it is (no re-key, no Set-Cookie) with the profile id
				// tracker's own source resolves.
				status(t, r, 200, "session_match")
				noCookies(t, r)
				if r.profile != e.alice {
					t.Fatalf("profile %q, want alice", r.profile)
				}
			}},
		{name: "oversized cookie (100 KiB)",
			build: func(e *env) req {
				return req{headers: []hdr{emailH("alice@example.com"), cookieH("big=" + strings.Repeat("x", 100<<10))}}
			},
			check: func(t *testing.T, e *env, r res) { tooLarge(t, r) }},
		{name: "oversized header (100 KiB)",
			build: func(e *env) req {
				return req{headers: []hdr{emailH("alice@example.com"), {"x-junk", strings.Repeat("y", 100<<10)}}}
			},
			check: func(t *testing.T, e *env, r res) { tooLarge(t, r) }},
		{name: "too many headers (300)",
			build: func(e *env) req {
				hs := []hdr{emailH("alice@example.com")}
				for i := range 300 {
					hs = append(hs, hdr{"x-h" + strconv.Itoa(i), "v"})
				}
				return req{headers: hs}
			},
			check: func(t *testing.T, e *env, r res) { tooLarge(t, r) }},
		// Cookie parsing (RFC 6265: pairs split on ";" only, no count that
		// can hide a cookie).
		{name: "comma-joined pairs do not hide the service or a native cookie",
			build: func(e *env) req {
				tok := e.signIn("wiki", "alice@example.com")
				var pref []string
				for i := range 260 {
					pref = append(pref, "j"+strconv.Itoa(i)+"=1")
				}
				return req{headers: []hdr{emailH("bob@example.com"),
					cookieH("pref=" + strings.Join(pref, ",") + "; " + sess(tok) + "; wiki_sid=ALICE")}}
			},
			check: func(t *testing.T, e *env, r res) {
				status(t, r, 401, "identity_changed")
				// Alice's native cookie expired, and a session of Bob's in
				// place of hers.
				if !hasPrefix(r.setCookies, "wiki_sid=;") || r.token() == "" {
					t.Fatalf("Alice's cookies not flushed: %v", r.setCookies)
				}
			}},
		{name: "more cookies than the service reads is refused, not truncated",
			build: func(e *env) req {
				tok := e.signIn("wiki", "alice@example.com")
				var cs []string
				for i := range 2000 {
					cs = append(cs, "c"+strconv.Itoa(i)+"=1")
				}
				return req{headers: []hdr{emailH("bob@example.com"), cookieH(strings.Join(cs, "; ") + "; " + sess(tok) + "; wiki_sid=ALICE")}}
			},
			check: func(t *testing.T, e *env, r res) { status(t, r, 400, "request_invalid"); noCookies(t, r) }},
		{name: "cookies the service does not own reach the app byte for byte",
			only: []transport{grpcMap, grpcRaw}, // the HTTP check cannot rewrite the upstream Cookie header
			build: func(e *env) req {
				tok := e.signIn("tracker", "alice@example.com")
				return req{app: "tracker", headers: []hdr{emailH("alice@example.com"),
					cookieH(`ga=GA1.2.3,x=y; q="quoted"; ` + sess(tok) + `; a@b=1;n=v`)}}
			},
			check: func(t *testing.T, e *env, r res) {
				status(t, r, 200, "session_match")
				if got, want := r.header("cookie"), `ga=GA1.2.3,x=y; q="quoted"; a@b=1; n=v`; got != want {
					t.Fatalf("upstream cookie %q, want %q", got, want)
				}
			}},
		// Bypass (invariant 11): only when every reading of the path an
		// upstream may make lies under the prefix.
		{name: "bypass still works for a plain path under the prefix",
			build: func(e *env) req {
				return req{app: "gated", path: "/god-mode/%73ettings?x=1", headers: []hdr{emailH("mallory@example.com")}}
			},
			check: func(t *testing.T, e *env, r res) { status(t, r, 200, "bypass"); noCookies(t, r) }},
		{name: "encoded slash and dots do not reach the bypass",
			build: func(e *env) req {
				return req{app: "gated", path: "/api/x/..%2F..%2Fgod-mode", headers: []hdr{emailH("mallory@example.com")}}
			},
			check: func(t *testing.T, e *env, r res) { status(t, r, 403, "profile_blocked") }},
		{name: "encoded dot segments do not reach the bypass",
			build: func(e *env) req {
				return req{app: "gated", path: "/api/x/%2e%2e/%2e%2e/god-mode", headers: []hdr{emailH("mallory@example.com")}}
			},
			check: func(t *testing.T, e *env, r res) { status(t, r, 403, "profile_blocked") }},
		{name: "path parameters do not reach the bypass",
			build: func(e *env) req {
				return req{app: "gated", path: "/god-mode/..;/api/x", headers: []hdr{emailH("mallory@example.com")}}
			},
			check: func(t *testing.T, e *env, r res) { status(t, r, 403, "profile_blocked") }},
		// Identities are never compatibility-folded (invariant 12).
		{name: "full-width look-alike is not alice",
			build: func(e *env) req { return req{headers: []hdr{emailH("ａｌｉｃｅ@example.com")}} },
			check: func(t *testing.T, e *env, r res) { notFolded(t, e, r) }},
		{name: "circled look-alike is not alice",
			build: func(e *env) req { return req{headers: []hdr{emailH("ⓐlice@example.com")}} },
			check: func(t *testing.T, e *env, r res) { notFolded(t, e, r) }},
		{name: "look-alike domain is not bob's",
			build: func(e *env) req { return req{headers: []hdr{emailH("bob@examplｅ.com")}} },
			check: func(t *testing.T, e *env, r res) { notFolded(t, e, r) }},
		{name: "expired session (session_max_age 2s)",
			build: func(e *env) req {
				// The only wait on the clock in this file: the session must
				// be past its expiry, which is a time, not an event.
				if d := time.Until(shortAt.Add(shortAge + 200*time.Millisecond)); d > 0 {
					<-time.After(d)
				}
				return req{app: "short", headers: []hdr{emailH("alice@example.com")}}
			},
			check: nil}, // filled per transport below
	}

	for _, rw := range rows {
		t.Run(rw.name, func(t *testing.T) {
			for _, tr := range transports {
				if rw.only != nil && !contains(asStrings(rw.only), string(tr)) {
					continue
				}
				t.Run(string(tr), func(t *testing.T) {
					e := *e
					e.t = t
					q := rw.build(&e)
					if rw.check == nil { // expired session: per transport token
						q.headers = append(q.headers, cookieH(sess(shortTok[tr])))
					}
					r := e.send(tr, q)
					common(t, &e, r)
					if rw.check != nil {
						rw.check(t, &e, r)
						return
					}
					status(t, r, 200, "rekey")
					if r.token() == shortTok[tr] || r.profile != e.alice {
						t.Fatalf("expired session: %+v", r)
					}
				})
			}
		})
	}

	t.Run("memory stays bounded under large requests", func(t *testing.T) { memoryBurst(t, e) })
}

// tooLarge asserts the 400/431-style refusal of an oversized request, and
// that it came quickly (generous: a loaded shared machine).
func tooLarge(t *testing.T, r res) {
	t.Helper()
	if r.status != 400 && r.status != 431 {
		t.Fatalf("oversized request answered %d %q, want 400 or 431", r.status, r.reason)
	}
	noCookies(t, r)
	if r.took > 2*time.Second {
		t.Fatalf("oversized request took %v", r.took)
	}
}

// notFolded asserts that a look-alike identity resolved to nobody known:
// refused as malformed, or unknown (anonymous under the default policy).
func notFolded(t *testing.T, e *env, r res) {
	t.Helper()
	if r.profile == e.alice || r.profile == e.bob {
		t.Fatalf("look-alike identity resolved to a known profile: %d %s %q", r.status, r.reason, r.profile)
	}
	if r.status != 400 && !(r.status == 200 && r.reason == "identity_unknown") {
		t.Fatalf("got %d %q, want 400 identity_malformed or 200 identity_unknown", r.status, r.reason)
	}
}

func hasPrefix(xs []string, p string) bool {
	for _, x := range xs {
		if strings.HasPrefix(x, p) {
			return true
		}
	}
	return false
}

func asStrings(ts []transport) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = string(t)
	}
	return out
}

// rss returns the resident set size of pid in KiB.
func rss(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return n
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// memoryBurst sends a burst of large requests (just under the header limit,
// and ~1 MiB, over the gRPC message limit) over gRPC, 8 at a time, and checks that the
// process's RSS stays under a generous bound: memory is bounded by the
// limits, not by the traffic.
func memoryBurst(t *testing.T, e *env) {
	e.svc.Conn() // created here, not in the goroutines below
	before := rss(t, e.svc.PID())
	const n, par = 400, 8
	sem := make(chan struct{}, par)
	errs := make(chan string, n)
	for i := range n {
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			size := 60 << 10 // under the 64 KiB limit: parsed
			if i%2 == 1 {
				size = 1 << 20 // far over: refused
			}
			q := req{headers: []hdr{emailH("alice@example.com"), cookieH("big=" + strings.Repeat("z", size))}}
			r := e.sendGRPCQuiet(q)
			// Refused: by gRPC's message size limit (ResourceExhausted,
			// grpc_server.max_recv_msg_size) or by the header limit.
			if i%2 == 1 && r.status != 400 && r.status != 431 && !strings.Contains(r.reason, "ResourceExhausted") {
				errs <- fmt.Sprintf("1 MiB request answered %d %s", r.status, r.reason)
			}
		}()
	}
	for range par {
		sem <- struct{}{}
	}
	close(errs)
	for msg := range errs {
		t.Error(msg)
		break
	}
	after := rss(t, e.svc.PID())
	t.Logf("RSS before %d KiB, after %d large requests %d KiB", before, n, after)
	// 400 requests carry ~220 MiB in total; a process that kept them (or
	// grew with them) would blow far past this.
	if after-before > 100<<10 {
		t.Errorf("RSS grew by %d KiB over a burst of large requests (bound 100 MiB)", after-before)
	}
}

// sendGRPCQuiet is send over the header map without failing the test from
// another goroutine.
func (e *env) sendGRPCQuiet(q req) res {
	h := map[string]string{":method": "GET", ":path": "/", ":authority": "app.example.com"}
	for _, x := range q.headers {
		h[x.name] = x.value
	}
	cr := &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Request:           &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{Method: "GET", Path: "/", Host: "app.example.com", Headers: h}},
		ContextExtensions: map[string]string{"app": "wiki"},
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := authv3.NewAuthorizationClient(e.svc.Conn()).Check(ctx, cr)
	if err != nil {
		return res{reason: err.Error()}
	}
	if codes.Code(resp.GetStatus().GetCode()) == codes.OK {
		return res{status: 200}
	}
	var r res
	r.status = int(resp.GetDeniedResponse().GetStatus().GetCode())
	for _, x := range resp.GetDeniedResponse().GetHeaders() {
		if x.GetHeader().GetKey() == "x-extauthz-reason" {
			r.reason = x.GetHeader().GetValue()
		}
	}
	return r
}
