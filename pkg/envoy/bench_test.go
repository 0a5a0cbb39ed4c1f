package envoy

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/protobuf/proto"

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
// fake stores and the header filter serve uses, without the gRPC
// transport: "message" from the generated request to the generated
// response; "bytes" from the serialized request to the serialized
// response, through the generated messages ("generated": proto.Unmarshal,
// Check, proto.Marshal, what gRPC's standard codec does) or the wire path
// serve runs ("wire": CheckWire, with the copy the codec makes).
func BenchmarkCheckSteadyState(b *testing.B) {
	w := newWorld(b)
	srv := NewServer(w.engine, Options{Keep: w.engine.HeaderNames()})
	req := steadyRequest(b)
	raw, err := proto.Marshal(req)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.Run("message", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			resp, err := srv.Check(ctx, req)
			if err != nil || resp.GetOkResponse() == nil {
				b.Fatalf("%v %v", resp, err)
			}
		}
	})
	b.Run("bytes/generated", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m := new(authv3.CheckRequest)
			if err := proto.Unmarshal(raw, m); err != nil {
				b.Fatal(err)
			}
			resp, err := srv.Check(ctx, m)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := proto.Marshal(resp); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("bytes/wire", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			out, err := srv.CheckWire(ctx, bytes.Clone(raw))
			if err != nil || len(out) == 0 {
				b.Fatal(err)
			}
		}
	})
}
