package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestGate(t *testing.T) {
	const stdlibCalled = `{"finding":{"osv":"GO-2026-0001","fixed_version":"v1.26.9","trace":[{"module":"stdlib","version":"v1.26.8","package":"net/http","function":"Get"}]}}`
	const moduleCalled = `{"finding":{"osv":"GO-2026-0002","fixed_version":"v1.2.0","trace":[{"module":"example.com/m","version":"v1.1.0","package":"example.com/m","function":"F"}]}}`
	const importedOnly = `{"finding":{"osv":"GO-2026-0003","fixed_version":"v1.2.0","trace":[{"module":"example.com/m","version":"v1.1.0","package":"example.com/m"}]}}`
	for _, tc := range []struct {
		name, in string
		code     int
		want     string
	}{
		// The standard library has no exemption: the Go release is pinned.
		{"stdlib called", stdlibCalled, 1, "GO-2026-0001 net/http.Get"},
		{"module called", moduleCalled, 1, "GO-2026-0002 example.com/m.F"},
		{"imported only", importedOnly + "\n{\"config\":{}}", 0, "0 called vulnerabilities"},
		{"nothing", "", 0, "0 called vulnerabilities"},
		{"garbage", "{", 2, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			if code := gate(strings.NewReader(tc.in), &out, &errOut); code != tc.code {
				t.Fatalf("exit %d, want %d\n%s%s", code, tc.code, out.String(), errOut.String())
			}
			if !strings.Contains(out.String(), tc.want) {
				t.Fatalf("output %q lacks %q", out.String(), tc.want)
			}
		})
	}
}
