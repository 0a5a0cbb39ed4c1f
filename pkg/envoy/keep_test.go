package envoy

import (
	"testing"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
)

func TestToInputKeepsOnlyWhatTheDeciderReads(t *testing.T) {
	req := &authv3.CheckRequest{Attributes: &authv3.AttributeContext{Request: &authv3.AttributeContext_Request{
		Http: &authv3.AttributeContext_HttpRequest{Headers: map[string]string{
			"x-auth-request-email": "a@x.io,b@x.io", "cookie": "a=b", "user-agent": "ua", "x-forwarded-for": "10.0.0.1",
		}},
	}}}
	o := Options{Keep: map[string]bool{"x-auth-request-email": true, "cookie": true}}
	in, err := o.ToInput(req)
	if err != nil {
		t.Fatal(err)
	}
	if len(in.Headers) != 2 || in.Headers.Get("x-auth-request-email")[0] != "a@x.io,b@x.io" || len(in.Cookies) != 1 {
		t.Fatalf("kept %v, cookies %v", in.Headers, in.Cookies)
	}
	// The size bounds still count every header Envoy sent.
	o.MaxHeaders = 3
	if _, err := o.ToInput(req); err != ErrTooManyHeaders {
		t.Fatalf("bound ignored dropped headers: %v", err)
	}
}
