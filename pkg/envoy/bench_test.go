package envoy

import (
	"context"
	"path/filepath"
	"testing"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"

	"github.com/extauthz/extauthz/pkg/authz"
)

// The steady-state request (row 11) as Envoy sends it: 14 headers in the map
// form, three cookies.
func steadyRequest(b *testing.B) *authv3.CheckRequest {
	b.Helper()
	return readRequest(b, filepath.Join("testdata", "session_match.request.json"))
}

func BenchmarkToInput(b *testing.B) {
	for _, row := range []string{"session_match", "session_match_header_map"} {
		b.Run(row, func(b *testing.B) {
			req := readRequest(b, filepath.Join("testdata", row+".request.json"))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ToInput(req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkFromDecision(b *testing.B) {
	w := newWorld(b)
	in, err := ToInput(steadyRequest(b))
	if err != nil {
		b.Fatal(err)
	}
	d := w.engine.Decide(context.Background(), in)
	if d.Reason != authz.ReasonSessionMatch {
		b.Fatalf("reason %s", d.Reason)
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = FromDecision(d, Options{})
	}
}

// BenchmarkCheckSteadyState is Check end to end for row 11 with in-memory
// fake stores (no gRPC transport).
func BenchmarkCheckSteadyState(b *testing.B) {
	srv := NewServer(newWorld(b).engine, Options{})
	req := steadyRequest(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		resp, err := srv.Check(ctx, req)
		if err != nil || resp.GetOkResponse() == nil {
			b.Fatalf("%v %v", resp, err)
		}
	}
}
