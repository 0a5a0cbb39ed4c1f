package envoy

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/google/go-cmp/cmp"

	"github.com/extauthz/extauthz/pkg/authz"
	"github.com/extauthz/extauthz/pkg/cookie"
)

// checkRequest builds a CheckRequest the way Envoy does, with headers in the
// map form (m) and/or the header_map form (hm).
func checkRequest(app string, m map[string]string, hm ...*corev3.HeaderValue) *authv3.CheckRequest {
	req := &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			Method: "GET", Scheme: "https", Host: "app.example.com", Path: "/a/b?c=d%20e",
			Headers: m,
		}},
	}}
	if app != "" {
		req.Attributes.ContextExtensions = map[string]string{"app": app}
	}
	if len(hm) > 0 {
		req.Attributes.Request.Http.HeaderMap = &corev3.HeaderMap{Headers: hm}
	}
	return req
}

func raw(k, v string) *corev3.HeaderValue   { return &corev3.HeaderValue{Key: k, RawValue: []byte(v)} }
func plain(k, v string) *corev3.HeaderValue { return &corev3.HeaderValue{Key: k, Value: v} }

func TestToInputMapForm(t *testing.T) {
	req := checkRequest("wiki", map[string]string{
		":authority":           "app.example.com",
		":path":                "/a/b?c=d%20e",
		"X-Auth-Request-Email": "alice@example.com", // Envoy lower-cases; be safe anyway
		"cookie":               "a=1; extauthz_session=tok",
		"x-request-id":         "r-1",
	})
	in, err := ToInput(req)
	if err != nil {
		t.Fatal(err)
	}
	want := authz.Input{
		App: "wiki", Method: "GET", Scheme: "https", Host: "app.example.com", Path: "/a/b?c=d%20e",
		Headers: authz.Headers{
			":authority":           {"app.example.com"},
			":path":                {"/a/b?c=d%20e"},
			"x-auth-request-email": {"alice@example.com"},
			"cookie":               {"a=1; extauthz_session=tok"},
			"x-request-id":         {"r-1"},
		},
		Cookies:   []cookie.Cookie{{Name: "a", Value: "1"}, {Name: "extauthz_session", Value: "tok"}},
		RequestID: "r-1",
	}
	if diff := cmp.Diff(want, in); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestToInputHeaderMapForm(t *testing.T) {
	req := checkRequest("", nil,
		raw(":method", "GET"),
		raw("X-Auth-Request-Email", "alice@example.com"),
		&corev3.HeaderValue{Key: "x-both", Value: "from-value", RawValue: []byte("from-raw")},
		plain("x-value-only", "v"),
		raw("accept", "text/html"),
		raw("accept", "application/json"),
		raw("x-bad-utf8", "\xff\xfe"),
		raw("", "nameless"),
	)
	in, err := ToInput(req)
	if err != nil {
		t.Fatal(err)
	}
	want := authz.Headers{
		":method":              {"GET"},
		"x-auth-request-email": {"alice@example.com"},
		"x-both":               {"from-raw"},
		"x-value-only":         {"v"},
		"accept":               {"text/html", "application/json"},
		"x-bad-utf8":           {"\xff\xfe"},
	}
	if diff := cmp.Diff(want, in.Headers); diff != "" {
		t.Errorf("headers (-want +got):\n%s", diff)
	}
	if in.App != "" {
		t.Errorf("App = %q, want \"\"", in.App)
	}
}

// A duplicated identity header must be ambiguous in both forms Envoy uses.
func TestToInputDuplicateIdentityIsAmbiguous(t *testing.T) {
	p := authz.DefaultPolicy("default")
	for name, req := range map[string]*authv3.CheckRequest{
		"map joined with comma": checkRequest("", map[string]string{
			"x-auth-request-email": "alice@example.com,bob@example.com",
		}),
		"two header_map entries": checkRequest("", nil,
			raw("x-auth-request-email", "alice@example.com"),
			raw("x-auth-request-email", "bob@example.com")),
		"map and header_map disagree": checkRequest("", map[string]string{
			"x-auth-request-email": "alice@example.com",
		}, raw("x-auth-request-email", "bob@example.com")),
		"user id twice": checkRequest("", nil,
			raw("x-auth-request-email", "alice@example.com"),
			raw("x-auth-request-user", "alice"),
			raw("x-auth-request-user", "mallory")),
	} {
		t.Run(name, func(t *testing.T) {
			in, err := ToInput(req)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := authz.ParseIdentity(in.Headers, &p); !errors.Is(err, authz.ErrIdentityAmbiguous) {
				t.Errorf("ParseIdentity error = %v, want ErrIdentityAmbiguous", err)
			}
		})
	}
}

func TestToInputCookiesSplitAcrossEntries(t *testing.T) {
	req := checkRequest("", map[string]string{"cookie": "a=1; b=2"},
		raw("cookie", "c=3, d=4"),
		raw("Cookie", "e=5;f=\"6\""),
		plain("cookie", "garbage; =x; g=7"),
	)
	// RFC 6265: pairs split on ";" only; a comma and quotes belong to the
	// value. Each entry is a separate input.
	in, err := ToInput(req)
	if err != nil {
		t.Fatal(err)
	}
	want := []cookie.Cookie{
		{Name: "a", Value: "1"}, {Name: "b", Value: "2"}, {Name: "c", Value: "3, d=4"},
		{Name: "e", Value: "5"}, {Name: "f", Value: `"6"`}, {Name: "g", Value: "7"},
	}
	if diff := cmp.Diff(want, in.Cookies); diff != "" {
		t.Errorf("cookies (-want +got):\n%s", diff)
	}
}

// Map keys that differ only in case land under one name in a stable order.
func TestToInputMixedCaseKeysDeterministic(t *testing.T) {
	m := map[string]string{"cookie": "a=1", "Cookie": "b=2", "COOKIE": "c=3"}
	for range 20 {
		in, err := ToInput(checkRequest("", m))
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"a=1", "c=3", "b=2"}, in.Headers["cookie"]); diff != "" {
			t.Fatalf("(-want +got):\n%s", diff)
		}
	}
}

func TestToInputMissingAttributes(t *testing.T) {
	for name, req := range map[string]*authv3.CheckRequest{
		"nil request":   nil,
		"no attributes": {},
		"no request":    {Attributes: &authv3.AttributeContext{ContextExtensions: map[string]string{"app": "wiki"}}},
		"no http":       {Attributes: &authv3.AttributeContext{Request: &authv3.AttributeContext_Request{}}},
		"empty http":    {Attributes: &authv3.AttributeContext{Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{}}}},
		"nil header_map entries": {Attributes: &authv3.AttributeContext{Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			HeaderMap: &corev3.HeaderMap{Headers: []*corev3.HeaderValue{nil, {}}},
		}}}},
	} {
		t.Run(name, func(t *testing.T) {
			in, err := ToInput(req)
			if err != nil {
				t.Fatal(err)
			}
			if in.Headers == nil {
				t.Error("Headers is nil; want an empty map")
			}
			if in.Method != "" || in.Path != "" || len(in.Cookies) != 0 {
				t.Errorf("unexpected fields: %+v", in)
			}
		})
	}
}

// Pseudo-headers fill fields Envoy left empty; the fields win otherwise.
func TestToInputPseudoHeaderFallback(t *testing.T) {
	req := checkRequest("", map[string]string{":method": "POST", ":path": "/other", ":authority": "h", ":scheme": "http"})
	req.Attributes.Request.Http.Method = ""
	req.Attributes.Request.Http.Host = ""
	in, err := ToInput(req)
	if err != nil {
		t.Fatal(err)
	}
	if in.Method != "POST" || in.Host != "h" || in.Path != "/a/b?c=d%20e" || in.Scheme != "https" {
		t.Errorf("got method %q host %q path %q scheme %q", in.Method, in.Host, in.Path, in.Scheme)
	}
}

func TestToInputLimits(t *testing.T) {
	big := strings.Repeat("x", DefaultMaxHeaderBytes)
	many := make(map[string]string, DefaultMaxHeaders+1)
	for i := range DefaultMaxHeaders + 1 {
		many["x-h-"+strconv.Itoa(i)] = "v"
	}
	manyEntries := make([]*corev3.HeaderValue, 0, 200)
	for range 200 {
		manyEntries = append(manyEntries, raw("cookie", "a=1"))
	}
	for _, tc := range []struct {
		name string
		opts Options
		req  *authv3.CheckRequest
		want error
	}{
		{"one huge map value", Options{}, checkRequest("", map[string]string{"x-big": big}), ErrHeadersTooLarge},
		{"huge raw value", Options{}, checkRequest("", nil, raw("x-big", big)), ErrHeadersTooLarge},
		{"bytes across both forms", Options{MaxHeaderBytes: 100},
			checkRequest("", map[string]string{"a": strings.Repeat("x", 60)}, raw("b", strings.Repeat("y", 60))), ErrHeadersTooLarge},
		{"too many map keys", Options{}, checkRequest("", many), ErrTooManyHeaders},
		{"too many entries", Options{MaxHeaders: 100}, checkRequest("", nil, manyEntries...), ErrTooManyHeaders},
		{"at the byte limit", Options{MaxHeaderBytes: 10}, checkRequest("", map[string]string{"abcde": "fghij"}), nil},
		{"too many cookies in the map", Options{},
			checkRequest("", map[string]string{"cookie": strings.Repeat("a=1; ", cookie.MaxCookies) + "extauthz_session=t"}), cookie.ErrTooManyCookies},
		{"too many cookies across entries", Options{},
			checkRequest("", nil, raw("cookie", strings.Repeat("a=1;", cookie.MaxCookies/2)), raw("cookie", strings.Repeat("b=2;", cookie.MaxCookies/2)),
				raw("cookie", "extauthz_session=t")), cookie.ErrTooManyCookies},
		{"cookies at the limit", Options{}, checkRequest("", map[string]string{"cookie": strings.Repeat("a=1; ", cookie.MaxCookies)}), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.opts.ToInput(tc.req)
			if !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
		})
	}
}
