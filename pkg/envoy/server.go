package envoy

import (
	"context"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/extauthz/extauthz/pkg/authz"
)

// Decider decides one request; *authz.Engine is one.
type Decider interface {
	Decide(ctx context.Context, in authz.Input) authz.Decision
}

// policySource is implemented by deciders that can name an app's reason
// header (*authz.Engine does); the server needs it only for the denials it
// makes itself.
type policySource interface {
	Policy(app string) (authz.Policy, bool)
}

// defaultReasonHeader is used for the server's own denials when the decider
// cannot tell the app's setting.
const defaultReasonHeader = "x-extauthz-reason"

// Server implements authv3.AuthorizationServer over a Decider.
type Server struct {
	authv3.UnimplementedAuthorizationServer
	d    Decider
	opts Options
}

var _ authv3.AuthorizationServer = (*Server)(nil)

// NewServer returns a Server deciding with d.
func NewServer(d Decider, opts Options) *Server {
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
	var start time.Time
	if s.opts.Observe != nil {
		start = time.Now()
	}
	in, err := s.opts.ToInput(req)
	var d authz.Decision
	if err != nil {
		in = authz.Input{App: appOf(req)}
		d = authz.Denial(in.App, 400, authz.ReasonRequestInvalid, s.reasonHeader(in.App))
	} else {
		d = s.d.Decide(ctx, in)
	}
	if s.opts.Observe != nil {
		s.opts.Observe(ctx, in, d, time.Since(start))
	}
	if s.opts.UnavailableAsError && !d.Allow && d.Reason == authz.ReasonLookupUnavailable {
		return nil, status.Error(codes.Unavailable, "extauthz: profile or session store unavailable")
	}
	return FromDecision(d, s.opts), nil
}

func (s *Server) reasonHeader(app string) string {
	if ps, ok := s.d.(policySource); ok {
		if p, found := ps.Policy(app); found {
			return p.ReasonHeader
		}
	}
	return defaultReasonHeader
}
