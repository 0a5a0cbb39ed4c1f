package envoy

import (
	"context"
	"errors"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/extauthz/extauthz/pkg/authz"
)

// Server implements authv3.AuthorizationServer over a Decider.
type Server struct {
	authv3.UnimplementedAuthorizationServer
	d    authz.Decider
	opts Options
}

var _ authv3.AuthorizationServer = (*Server)(nil)

// NewServer returns a Server deciding with d.
func NewServer(d authz.Decider, opts Options) *Server {
	return &Server{d: d, opts: opts}
}

// Register registers srv as the Authorization service of s.
func Register(s *grpc.Server, srv *Server) {
	authv3.RegisterAuthorizationServer(s, srv)
}

// Check implements authv3.AuthorizationServer. Every decision, denials
// included, is a successful RPC, except a lookup_unavailable decision when
// Options.UnavailableAsError is set.
func (s *Server) Check(ctx context.Context, req *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	start := s.start()
	in, err := s.opts.ToInput(req)
	if err != nil {
		in = authz.Input{App: appOf(req)}
	}
	d, err := s.decide(ctx, start, in, err)
	if err != nil {
		return nil, err
	}
	return FromDecision(d, s.opts), nil
}

// CheckWire is Check over a serialized CheckRequest, answering a serialized
// CheckResponse (DecodeInput, EncodeDecision). b must not be modified
// afterwards. Bytes that are not a message fail with codes.Internal, as
// gRPC's own decoding would.
func (s *Server) CheckWire(ctx context.Context, b []byte) ([]byte, error) {
	start := s.start()
	src := sources.Get().(*source)
	err := s.opts.decode(b, src)
	if errors.Is(err, ErrMalformed) {
		src.release()
		return nil, status.Errorf(codes.Internal, "grpc: error unmarshalling request: %v", err)
	}
	var in authz.Input
	if err == nil {
		in, err = s.opts.build(src)
	}
	if err != nil {
		in = authz.Input{App: src.app}
	}
	src.release()
	d, err := s.decide(ctx, start, in, err)
	if err != nil {
		return nil, err
	}
	return EncodeDecision(d, s.opts), nil
}

func (s *Server) start() time.Time {
	if s.opts.Observe != nil {
		return time.Now()
	}
	return time.Time{}
}

// decide answers in, or a 400 when translating the request failed (inErr;
// in then holds only the app).
func (s *Server) decide(ctx context.Context, start time.Time, in authz.Input, inErr error) (authz.Decision, error) {
	var d authz.Decision
	if inErr != nil {
		d = authz.Denial(in.App, 400, authz.ReasonRequestInvalid, authz.ReasonHeaderFor(s.d, in.App))
	} else {
		d = s.d.Decide(ctx, in)
	}
	if s.opts.Observe != nil {
		s.opts.Observe(ctx, in, d, time.Since(start))
	}
	if s.opts.UnavailableAsError && !d.Allow && d.Reason == authz.ReasonLookupUnavailable {
		return d, status.Error(codes.Unavailable, "extauthz: profile or session store unavailable")
	}
	return d, nil
}
