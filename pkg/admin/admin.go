// Package admin holds the operator's rules and the admin gRPC API over
// them. Service is plain Go over small store interfaces (ProfileStore,
// SessionStore, TokenStore): what blocking, deactivating or deleting a
// profile does (each revokes its sessions), revoking sessions, issuing and
// revoking access tokens. Server (proto/extauthz/admin/v1) and the CLI
// (extauthz profile|session|token) are thin adapters over it.
//
// Every gRPC call needs `authorization: Bearer <token>` (BearerToken). Errors
// map to gRPC codes: authz.ErrNotFound → NotFound, authz.ErrUnavailable →
// Unavailable, ErrInvalid → InvalidArgument, the rest → Internal (the
// message, Message(err), never carries a token or cookie value).
package admin

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/extauthz/extauthz/pkg/authz"
	"github.com/extauthz/extauthz/pkg/explain"
	"github.com/extauthz/extauthz/pkg/profile"
	adminv1 "github.com/extauthz/extauthz/proto/extauthz/admin/v1"
)

// ExplainFunc explains a decision without writing (explain.Explainer.Explain).
type ExplainFunc func(ctx context.Context, r explain.Request) (explain.Result, error)

// Server implements adminv1.AdminServer over a Service.
type Server struct {
	adminv1.UnimplementedAdminServer
	svc     *Service
	explain ExplainFunc
}

// New returns a Server over the rules of NewService(profiles, sessions,
// nil). explain may be nil (Explain answers Unimplemented).
func New(profiles ProfileStore, sessions SessionStore, explain ExplainFunc) *Server {
	return &Server{svc: NewService(profiles, sessions, nil), explain: explain}
}

// Register adds s to a gRPC server.
func Register(gs grpc.ServiceRegistrar, s *Server) { adminv1.RegisterAdminServer(gs, s) }

// refOf turns the wire reference into a Ref.
func refOf(ref *adminv1.ProfileRef) (Ref, error) {
	switch r := ref.GetRef().(type) {
	case *adminv1.ProfileRef_ProfileId:
		if r.ProfileId == "" {
			return Ref{}, status.Error(codes.InvalidArgument, "profile.profile_id is empty")
		}
		return Ref{ID: r.ProfileId}, nil
	case *adminv1.ProfileRef_Email:
		return Ref{Email: r.Email}, nil
	}
	return Ref{}, status.Error(codes.InvalidArgument, "profile: give profile_id or email")
}

// grpcError maps an error of the Service to a gRPC status.
func grpcError(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err // refOf's
	}
	code := codes.Internal
	switch {
	case errors.Is(err, ErrInvalid):
		code = codes.InvalidArgument
	case errors.Is(err, authz.ErrNotFound):
		code = codes.NotFound
	case errors.Is(err, profile.ErrExists):
		code = codes.AlreadyExists
	case authz.IsTransient(err):
		code = codes.Unavailable
	}
	return status.Error(code, Message(err))
}

func profileMsg(p authz.Profile) *adminv1.Profile {
	return &adminv1.Profile{Id: p.ID, Email: p.Email, Name: p.Name, Active: p.Active, Blocked: p.Blocked, Deleted: p.Deleted}
}

// change runs one of the Service's profile changes for a wire reference.
func (s *Server) change(ctx context.Context, ref *adminv1.ProfileRef, do func(context.Context, Ref) (Change, error)) (Change, error) {
	r, err := refOf(ref)
	if err != nil {
		return Change{}, err
	}
	c, err := do(ctx, r)
	return c, grpcError(err)
}

// RevokeSessions implements adminv1.AdminServer.
func (s *Server) RevokeSessions(ctx context.Context, req *adminv1.RevokeSessionsRequest) (*adminv1.RevokeSessionsResponse, error) {
	c, err := s.change(ctx, req.GetProfile(), s.svc.RevokeSessions)
	if err != nil {
		return nil, err
	}
	return &adminv1.RevokeSessionsResponse{Profile: profileMsg(c.Profile), Revoked: int32(c.SessionsRevoked)}, nil
}

// ListSessions implements adminv1.AdminServer.
func (s *Server) ListSessions(ctx context.Context, req *adminv1.ListSessionsRequest) (*adminv1.ListSessionsResponse, error) {
	r, err := refOf(req.GetProfile())
	if err != nil {
		return nil, err
	}
	p, list, err := s.svc.Sessions(ctx, r)
	if err != nil {
		return nil, grpcError(err)
	}
	out := &adminv1.ListSessionsResponse{Profile: profileMsg(p)}
	for _, ss := range list {
		out.Sessions = append(out.Sessions, &adminv1.Session{
			HashPrefix: ss.Hash.String()[:16],
			App:        ss.App,
			CreatedAt:  timestamppb.New(ss.CreatedAt),
			RenewedAt:  timestamppb.New(ss.RenewedAt),
			ExpiresAt:  timestamppb.New(ss.ExpiresAt),
		})
	}
	return out, nil
}

// BlockProfile implements adminv1.AdminServer (Service.Block: the
// profile's sessions are revoked too).
func (s *Server) BlockProfile(ctx context.Context, req *adminv1.BlockProfileRequest) (*adminv1.BlockProfileResponse, error) {
	c, err := s.change(ctx, req.GetProfile(), s.svc.Block)
	if err != nil {
		return nil, err
	}
	return &adminv1.BlockProfileResponse{Profile: profileMsg(c.Profile), SessionsRevoked: int32(c.SessionsRevoked)}, nil
}

// UnblockProfile implements adminv1.AdminServer.
func (s *Server) UnblockProfile(ctx context.Context, req *adminv1.UnblockProfileRequest) (*adminv1.UnblockProfileResponse, error) {
	c, err := s.change(ctx, req.GetProfile(), s.svc.Unblock)
	if err != nil {
		return nil, err
	}
	return &adminv1.UnblockProfileResponse{Profile: profileMsg(c.Profile)}, nil
}

// Explain implements adminv1.AdminServer.
func (s *Server) Explain(ctx context.Context, req *adminv1.ExplainRequest) (*adminv1.ExplainResponse, error) {
	if s.explain == nil {
		return nil, status.Error(codes.Unimplemented, "explain is not configured")
	}
	r := explain.Request{App: req.GetApp(), Method: req.GetMethod(), Host: req.GetHost(), Path: req.GetPath(), Cookies: req.GetCookies()}
	for _, h := range req.GetHeaders() {
		r.Headers = append(r.Headers, authz.Header{Name: h.GetName(), Value: h.GetValue()})
	}
	res, err := s.explain(ctx, r)
	if err != nil {
		if errors.Is(err, explain.ErrRequest) {
			return nil, status.Error(codes.InvalidArgument, err.Error())
		}
		return nil, status.Errorf(codes.Internal, "explain: %v", err)
	}
	return ExplainResponse(res), nil
}

// ExplainResponse renders an explanation as the wire message; new session
// tokens are redacted.
func ExplainResponse(res explain.Result) *adminv1.ExplainResponse {
	d := res.Decision
	out := &adminv1.ExplainResponse{
		Allow: d.Allow, Status: int32(d.Status), Reason: string(d.Reason), App: d.App, ProfileId: d.ProfileID,
		SetCookies: res.RedactedSetCookies(), Body: d.Body, StoreEffects: res.Effects,
	}
	if d.Allow {
		for _, h := range d.UpstreamSet {
			out.UpstreamSet = append(out.UpstreamSet, &adminv1.Header{Name: h.Name, Value: h.Value})
		}
		out.UpstreamRemove = d.UpstreamRemove
	}
	for _, h := range d.ResponseHeaders {
		out.ResponseHeaders = append(out.ResponseHeaders, &adminv1.Header{Name: h.Name, Value: h.Value})
	}
	return out
}

// BearerToken returns interceptors that admit only calls carrying
// `authorization: Bearer <token>`. Tokens are compared in constant time (as
// SHA-256 digests, so neither content nor length leaks through timing).
// A missing or wrong token is Unauthenticated. token must not be empty.
func BearerToken(token string) (grpc.UnaryServerInterceptor, grpc.StreamServerInterceptor, error) {
	if token == "" {
		return nil, nil, errors.New("admin: empty bearer token")
	}
	want := sha256.Sum256([]byte(token))
	check := func(ctx context.Context) error {
		md, _ := metadata.FromIncomingContext(ctx)
		vals := md.Get("authorization")
		if len(vals) != 1 {
			return status.Error(codes.Unauthenticated, "admin: bearer token required")
		}
		scheme, got, ok := strings.Cut(vals[0], " ")
		if !ok || !strings.EqualFold(scheme, "bearer") {
			return status.Error(codes.Unauthenticated, "admin: bearer token required")
		}
		h := sha256.Sum256([]byte(strings.TrimSpace(got)))
		if subtle.ConstantTimeCompare(h[:], want[:]) != 1 {
			return status.Error(codes.Unauthenticated, "admin: invalid bearer token")
		}
		return nil
	}
	unary := func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
		if err := check(ctx); err != nil {
			return nil, err
		}
		return next(ctx, req)
	}
	stream := func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, next grpc.StreamHandler) error {
		if err := check(ss.Context()); err != nil {
			return err
		}
		return next(srv, ss)
	}
	return unary, stream, nil
}

// Credentials are per-RPC credentials sending a bearer token, for clients.
type Credentials struct {
	Token string
	// Insecure allows sending the token without transport security (loopback
	// tests, or a listener reached only through a trusted network).
	Insecure bool
}

// GetRequestMetadata implements credentials.PerRPCCredentials.
func (c Credentials) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": fmt.Sprintf("Bearer %s", c.Token)}, nil
}

// RequireTransportSecurity implements credentials.PerRPCCredentials.
func (c Credentials) RequireTransportSecurity() bool { return !c.Insecure }
