package envoy

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/extauthz/extauthz/pkg/authz"
)

// The wire path (DecodeInput, EncodeDecision, CheckWire) must mean exactly
// what the generated-message path (ToInput, FromDecision, Check) means.

func marshal(t testing.TB, m proto.Message) []byte {
	t.Helper()
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestCheckWireGolden runs every golden row through CheckWire: the bytes it
// answers must unmarshal to the golden response.
func TestCheckWireGolden(t *testing.T) {
	for _, row := range goldenRows {
		t.Run(row, func(t *testing.T) {
			req := readRequest(t, filepath.Join("testdata", row+".request.json"))
			for _, keep := range []bool{false, true} {
				w := newWorld(t)
				o := Options{}
				if keep {
					o.Keep = w.engine.HeaderNames()
				}
				b, err := NewServer(w.engine, o).CheckWire(context.Background(), marshal(t, req))
				if err != nil {
					t.Fatalf("CheckWire: %v", err)
				}
				got := &authv3.CheckResponse{}
				if err := proto.Unmarshal(b, got); err != nil {
					t.Fatalf("the answer does not unmarshal: %v", err)
				}
				want := &authv3.CheckResponse{}
				readProtoJSON(t, filepath.Join("testdata", row+".response.json"), want)
				if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
					t.Errorf("keep=%v: response mismatch (-golden +wire):\n%s", keep, diff)
				}
				if check := goldenEffects[row]; check != nil {
					check(t, w)
				}
			}
		})
	}
}

// wireSeeds are requests the proto encoder would never write but a peer
// may: repeated occurrences of one message (merged), duplicate map keys
// (the last wins), fields with unexpected wire types (unknown, skipped).
func wireSeeds(t testing.TB) [][]byte {
	var seeds [][]byte
	for _, row := range goldenRows {
		seeds = append(seeds, marshal(t, readRequest(t, filepath.Join("testdata", row+".request.json"))))
	}
	entry := func(k, v string) []byte {
		var b []byte
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		b = protowire.AppendString(b, k)
		b = protowire.AppendTag(b, 2, protowire.BytesType)
		return protowire.AppendString(b, v)
	}
	msg := func(num protowire.Number, parts ...[]byte) []byte {
		b := protowire.AppendTag(nil, num, protowire.BytesType)
		return protowire.AppendBytes(b, slices.Concat(parts...))
	}
	str := func(num protowire.Number, s string) []byte {
		b := protowire.AppendTag(nil, num, protowire.BytesType)
		return protowire.AppendString(b, s)
	}
	http := func(parts ...[]byte) []byte { return msg(1, msg(4, msg(2, parts...))) }
	seeds = append(seeds,
		// Two attributes, two http: merged; map keys repeated.
		slices.Concat(
			http(str(2, "GET"), msg(3, entry("x-auth-request-email", "a@example.com")), msg(3, entry("cookie", "a=1"))),
			http(str(4, "/p"), msg(3, entry("x-auth-request-email", "b@example.com")), msg(13, msg(1, str(1, "Cookie"), str(3, "b=2")))),
			msg(1, msg(10, entry("app", "tracker"))),
		),
		// A map entry without a key, one without a value, a key as varint.
		http(msg(3, str(2, "no-key")), msg(3, str(1, "no-value")), msg(3, protowire.AppendVarint(protowire.AppendTag(nil, 1, protowire.VarintType), 7), str(2, "v"))),
		// Upper-case map keys colliding after lower-casing.
		http(msg(3, entry("X-Auth-Request-Email", "a@example.com")), msg(3, entry("x-auth-request-email", "b@example.com")), msg(3, entry("X-AUTH-REQUEST-EMAIL", "c@example.com"))),
		// The method as a varint (unknown), a group, a fixed64.
		slices.Concat(
			http(protowire.AppendVarint(protowire.AppendTag(nil, 2, protowire.VarintType), 1), str(5, "h")),
			protowire.AppendTag(nil, 7, protowire.StartGroupType), protowire.AppendTag(nil, 7, protowire.EndGroupType),
			protowire.AppendFixed64(protowire.AppendTag(nil, 9, protowire.Fixed64Type), 1),
		),
		// header_map with raw_value set, then value set again.
		http(msg(13, msg(1, str(1, "x-auth-request-email"), str(3, "r@example.com"), str(2, "v@example.com"), str(3, "s@example.com")))),
		// Not UTF-8: proto.Unmarshal refuses, the wire path decides.
		http(msg(3, entry("cookie", "theme=\xff; extauthz_session=x"))),
		// Truncated.
		http(str(2, "GET"))[:5],
	)
	var many [][]byte
	for i := range 40 {
		many = append(many, msg(3, entry("k"+strings.Repeat("x", i), "v")), msg(3, entry("h", "again")))
	}
	seeds = append(seeds, http(many...))
	return seeds
}

// checkDecode holds DecodeInput to ToInput on b under o.
func checkDecode(t *testing.T, b []byte, o Options) {
	t.Helper()
	buf := slices.Clone(b) // DecodeInput's strings share it
	got, gotErr := o.DecodeInput(buf)
	req := &authv3.CheckRequest{}
	if err := proto.Unmarshal(b, req); err != nil {
		return // proto refuses; the wire path may decide (it must only not panic)
	}
	want, wantErr := o.ToInput(req)
	if !errors.Is(gotErr, wantErr) && !(gotErr == nil && wantErr == nil) {
		t.Fatalf("DecodeInput error %v, ToInput error %v", gotErr, wantErr)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("DecodeInput differs from ToInput (-ToInput +DecodeInput):\n%s", diff)
	}
}

func TestDecodeInputMatchesToInput(t *testing.T) {
	keep := newWorld(t).engine.HeaderNames()
	for i, b := range wireSeeds(t) {
		for _, o := range []Options{{}, {Keep: keep}, {MaxHeaders: 3}, {MaxHeaderBytes: 64}} {
			t.Run("", func(t *testing.T) {
				t.Logf("seed %d, options %+v", i, o)
				checkDecode(t, b, o)
			})
		}
	}
}

func TestDecodeInputEdges(t *testing.T) {
	seeds := wireSeeds(t)
	// The merged request: the second http's email wins, the header_map
	// cookie follows the map's, the app comes from the third attributes.
	in, err := Options{}.DecodeInput(seeds[len(goldenRows)])
	if err != nil {
		t.Fatal(err)
	}
	if in.App != "tracker" || in.Method != "GET" || in.Path != "/p" ||
		!slices.Equal(in.Headers["x-auth-request-email"], []string{"b@example.com"}) ||
		!slices.Equal(in.Headers["cookie"], []string{"a=1", "b=2"}) {
		t.Errorf("merged request decoded as %+v", in)
	}
	// Not UTF-8: decided, not refused.
	if _, err := (Options{}).DecodeInput(seeds[len(seeds)-3]); err != nil {
		t.Errorf("a non-UTF-8 cookie: %v", err)
	}
	if _, err := (Options{}).DecodeInput(seeds[len(seeds)-2]); !errors.Is(err, ErrMalformed) {
		t.Errorf("a truncated request: %v, want ErrMalformed", err)
	}
	// 41 distinct keys, each repeated: too many for 40, enough for 41.
	if _, err := (Options{MaxHeaders: 40}).DecodeInput(seeds[len(seeds)-1]); !errors.Is(err, ErrTooManyHeaders) {
		t.Errorf("41 distinct keys under a limit of 40: %v", err)
	}
	if in, err := (Options{MaxHeaders: 41}).DecodeInput(seeds[len(seeds)-1]); err != nil || in.Headers["h"][0] != "again" {
		t.Errorf("41 distinct keys under a limit of 41: %v %v", in.Headers["h"], err)
	}
}

func FuzzDecodeInput(f *testing.F) {
	for _, b := range wireSeeds(f) {
		f.Add(b)
	}
	keep := newWorld(f).engine.HeaderNames()
	f.Fuzz(func(t *testing.T, b []byte) {
		checkDecode(t, b, Options{})
		checkDecode(t, b, Options{Keep: keep, MaxHeaders: 8, MaxHeaderBytes: 256})
	})
}

// TestCheckWireErrors: what gRPC's decoding would refuse fails the same
// way; Options.UnavailableAsError still turns into a status.
func TestCheckWireErrors(t *testing.T) {
	w := newWorld(t)
	_, err := NewServer(w.engine, Options{}).CheckWire(context.Background(), []byte{0x0a, 0x05, 0x01})
	if status.Code(err) != codes.Internal {
		t.Errorf("truncated request: %v, want Internal", err)
	}
	req := readRequest(t, filepath.Join("testdata", "lookup_unavailable.request.json"))
	_, err = NewServer(w.engine, Options{UnavailableAsError: true}).CheckWire(context.Background(), marshal(t, req))
	if status.Code(err) != codes.Unavailable {
		t.Errorf("lookup_unavailable with UnavailableAsError: %v, want Unavailable", err)
	}
	// Too many headers: a 400 for the request's app, as Check answers.
	many := &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		ContextExtensions: map[string]string{"app": "tracker"},
		Request:           &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{HeaderMap: &corev3.HeaderMap{}}},
	}}
	for range 5 {
		hm := many.Attributes.Request.Http.HeaderMap
		hm.Headers = append(hm.Headers, &corev3.HeaderValue{Key: "x", Value: "y"})
	}
	o := Options{MaxHeaders: 4}
	want, err := NewServer(newWorld(t).engine, o).Check(context.Background(), many)
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewServer(newWorld(t).engine, o).CheckWire(context.Background(), marshal(t, many))
	if err != nil {
		t.Fatal(err)
	}
	got := &authv3.CheckResponse{}
	if err := proto.Unmarshal(b, got); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" || want.GetDeniedResponse().GetStatus().GetCode() != 400 {
		t.Errorf("too many headers (-Check +CheckWire):\n%s", diff)
	}
}

// checkEncode holds EncodeDecision to FromDecision.
func checkEncode(t *testing.T, d authz.Decision, o Options) {
	t.Helper()
	want := FromDecision(d, o)
	got := &authv3.CheckResponse{}
	if err := proto.Unmarshal(EncodeDecision(d, o), got); err != nil {
		t.Fatalf("EncodeDecision's bytes do not unmarshal: %v", err)
	}
	if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
		t.Fatalf("EncodeDecision differs from FromDecision (-From +Encode):\n%s", diff)
	}
}

func FuzzEncodeDecision(f *testing.F) {
	f.Add(true, 200, "x-profile-id", "p-1", "cookie", "a=1", "x-profile-email", "extauthz_session=v1.x; Path=/", "x-extauthz-reason", "session_match", "", uint8(0))
	f.Add(false, 403, "", "", "", "", "", "extauthz_session=; Max-Age=0", "content-type", "text/html", "<p>denied</p>", uint8(2))
	f.Add(false, 401, "", "", "", "", "", "", "www-authenticate", "Bearer", "", uint8(1))
	f.Add(false, 0, "", "", "", "", "", "", "", "", "", uint8(3))
	f.Add(false, 999, "x", "\r\n", "", "", "", "", "x-extauthz-reason", "lookup_error", "", uint8(0))
	f.Add(true, 200, "x", "\xff", "", "", "", "", "", "", "", uint8(0))
	f.Fuzz(func(t *testing.T, allow bool, st int, upName, upValue, up2Name, up2Value, remove, setCookie, respName, respValue, body string, action uint8) {
		d := authz.Decision{Allow: allow, Status: st, Body: body, Reason: authz.ReasonSessionMatch}
		if upName != "" {
			d.UpstreamSet = append(d.UpstreamSet, authz.Header{Name: upName, Value: upValue})
		}
		if up2Name != "" {
			d.UpstreamSet = append(d.UpstreamSet, authz.Header{Name: up2Name, Value: up2Value})
		}
		if remove != "" {
			d.UpstreamRemove = []string{remove, ""}
		}
		if setCookie != "" {
			d.SetCookies = []string{setCookie, ""}
		}
		if respName != "" {
			d.ResponseHeaders = []authz.Header{{Name: respName, Value: respValue}, {Name: "x-extauthz-reason", Value: string(d.Reason)}}
		}
		checkEncode(t, d, Options{SetCookieAction: corev3.HeaderValueOption_HeaderAppendAction(action % 4)})
	})
}

// TestGoldenOverGRPC runs every golden row over a real loopback gRPC
// connection against the stock registration, the wire path as serve runs
// it, and the wire path with an interceptor (which gets the generated
// messages); all three must answer the golden. The health service beside
// the wire path still goes through the standard codec.
func TestGoldenOverGRPC(t *testing.T) {
	setups := []struct {
		name        string
		intercepted bool
		start       func(*grpc.Server, *Server)
		opts        func(seen *atomic.Int64) []grpc.ServerOption
	}{
		{"stock", false, Register, func(*atomic.Int64) []grpc.ServerOption { return nil }},
		{"wire", false, RegisterWire, func(*atomic.Int64) []grpc.ServerOption { return []grpc.ServerOption{WireCodec()} }},
		{"wire+interceptor", true, RegisterWire, func(seen *atomic.Int64) []grpc.ServerOption {
			return []grpc.ServerOption{WireCodec(), grpc.UnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
				if _, ok := req.(*authv3.CheckRequest); ok && info.FullMethod == authv3.Authorization_Check_FullMethodName {
					seen.Add(1)
				}
				return h(ctx, req)
			})}
		}},
	}
	for _, s := range setups {
		t.Run(s.name, func(t *testing.T) {
			var seen atomic.Int64
			for _, row := range goldenRows {
				lis, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				gs := grpc.NewServer(s.opts(&seen)...)
				s.start(gs, NewServer(newWorld(t).engine, Options{}))
				healthpb.RegisterHealthServer(gs, health.NewServer())
				go func() { _ = gs.Serve(lis) }()
				conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
				if err != nil {
					t.Fatal(err)
				}
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				got, err := authv3.NewAuthorizationClient(conn).Check(ctx, readRequest(t, filepath.Join("testdata", row+".request.json")))
				if err != nil {
					t.Fatalf("%s: Check: %v", row, err)
				}
				if hc, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}); err != nil || hc.GetStatus() != healthpb.HealthCheckResponse_SERVING {
					t.Fatalf("%s: health beside the wire path: %v %v", row, hc, err)
				}
				cancel()
				conn.Close()
				gs.Stop()
				want := &authv3.CheckResponse{}
				readProtoJSON(t, filepath.Join("testdata", row+".response.json"), want)
				if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
					t.Errorf("%s: response mismatch (-golden +got):\n%s", row, diff)
				}
			}
			if s.intercepted && seen.Load() != int64(len(goldenRows)) {
				t.Errorf("the interceptor saw %d generated requests, want %d", seen.Load(), len(goldenRows))
			}
		})
	}
}
