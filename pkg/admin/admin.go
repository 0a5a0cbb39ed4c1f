// Package admin implements the extauthz admin gRPC API
// (proto/extauthz/admin/v1): revoke and list a profile's sessions, block and
// unblock a profile, explain a decision. It works over small interfaces
// (ProfileStore, SessionStore, an explain function), so the binary wires the
// real stores and tests wire whatever they need.
//
// Every call needs `authorization: Bearer <token>` (BearerToken). Store
// errors map to gRPC codes: authz.ErrNotFound → NotFound,
// authz.ErrUnavailable → Unavailable, bad arguments → InvalidArgument, the
// rest → Internal (the message never carries a token or cookie value).
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
	adminv1 "github.com/extauthz/extauthz/proto/extauthz/admin/v1"
)

// ProfileStore is what the admin API needs of the profile store.
type ProfileStore interface {
	LookupProfile(ctx context.Context, email string) (authz.Profile, error)
	ByID(ctx context.Context, id string) (authz.Profile, error)
	SetBlocked(ctx context.Context, email string, blocked bool) (authz.Profile, error)
}

// SessionStore is what the admin API needs of the session store.
type SessionStore interface {
	ListByProfile(ctx context.Context, profileID string) ([]authz.Session, error)
	RevokeByProfile(ctx context.Context, profileID string) (int, error)
}

// ExplainFunc explains a decision without writing (explain.Explainer.Explain).
type ExplainFunc func(ctx context.Context, r explain.Request) (explain.Result, error)

// Server implements adminv1.AdminServer.
type Server struct {
	adminv1.UnimplementedAdminServer
	profiles ProfileStore
	sessions SessionStore
	explain  ExplainFunc
}

// New returns a Server. explain may be nil (Explain answers Unimplemented).
func New(profiles ProfileStore, sessions SessionStore, explain ExplainFunc) *Server {
	return &Server{profiles: profiles, sessions: sessions, explain: explain}
}

// Register adds s to a gRPC server.
func Register(gs grpc.ServiceRegistrar, s *Server) { adminv1.RegisterAdminServer(gs, s) }

// resolve finds the profile a ProfileRef names.
func (s *Server) resolve(ctx context.Context, ref *adminv1.ProfileRef) (authz.Profile, error) {
	switch r := ref.GetRef().(type) {
	case *adminv1.ProfileRef_ProfileId:
		if r.ProfileId == "" {
			return authz.Profile{}, status.Error(codes.InvalidArgument, "profile.profile_id is empty")
		}
		p, err := s.profiles.ByID(ctx, r.ProfileId)
		return p, storeError("profile", err)
	case *adminv1.ProfileRef_Email:
		e, err := authz.NormalizeEmail(r.Email)
		if err != nil || e == "" {
			return authz.Profile{}, status.Error(codes.InvalidArgument, "profile.email is not a valid email address")
		}
		p, err := s.profiles.LookupProfile(ctx, e)
		return p, storeError("profile", err)
	}
	return authz.Profile{}, status.Error(codes.InvalidArgument, "profile: give profile_id or email")
}

// storeError maps a store error to a gRPC status.
func storeError(what string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, authz.ErrNotFound):
		return status.Errorf(codes.NotFound, "%s not found", what)
	case authz.IsTransient(err):
		return status.Errorf(codes.Unavailable, "%s: store unavailable", what)
	case status.Code(err) != codes.Unknown:
		return err
	}
	return status.Errorf(codes.Internal, "%s: %v", what, err)
}

func profileMsg(p authz.Profile) *adminv1.Profile {
	return &adminv1.Profile{Id: p.ID, Email: p.Email, Name: p.Name, Active: p.Active, Blocked: p.Blocked, Deleted: p.Deleted}
}

// RevokeSessions implements adminv1.AdminServer.
func (s *Server) RevokeSessions(ctx context.Context, req *adminv1.RevokeSessionsRequest) (*adminv1.RevokeSessionsResponse, error) {
	p, err := s.resolve(ctx, req.GetProfile())
	if err != nil {
		return nil, err
	}
	n, err := s.sessions.RevokeByProfile(ctx, p.ID)
	if err != nil {
		return nil, storeError("revoking sessions", err)
	}
	return &adminv1.RevokeSessionsResponse{Profile: profileMsg(p), Revoked: int32(n)}, nil
}

// ListSessions implements adminv1.AdminServer.
func (s *Server) ListSessions(ctx context.Context, req *adminv1.ListSessionsRequest) (*adminv1.ListSessionsResponse, error) {
	p, err := s.resolve(ctx, req.GetProfile())
	if err != nil {
		return nil, err
	}
	list, err := s.sessions.ListByProfile(ctx, p.ID)
	if err != nil {
		return nil, storeError("listing sessions", err)
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

// BlockProfile implements adminv1.AdminServer. It also revokes the
// profile's sessions: the decision denies a blocked profile anyway (row 10),
// and revoking means nothing of them survives an unblock.
func (s *Server) BlockProfile(ctx context.Context, req *adminv1.BlockProfileRequest) (*adminv1.BlockProfileResponse, error) {
	p, err := s.resolve(ctx, req.GetProfile())
	if err != nil {
		return nil, err
	}
	p, err = s.profiles.SetBlocked(ctx, p.Email, true)
	if err != nil {
		return nil, storeError("blocking profile", err)
	}
	n, err := s.sessions.RevokeByProfile(ctx, p.ID)
	if err != nil {
		return nil, storeError("profile blocked; revoking its sessions", err)
	}
	return &adminv1.BlockProfileResponse{Profile: profileMsg(p), SessionsRevoked: int32(n)}, nil
}

// UnblockProfile implements adminv1.AdminServer.
func (s *Server) UnblockProfile(ctx context.Context, req *adminv1.UnblockProfileRequest) (*adminv1.UnblockProfileResponse, error) {
	p, err := s.resolve(ctx, req.GetProfile())
	if err != nil {
		return nil, err
	}
	p, err = s.profiles.SetBlocked(ctx, p.Email, false)
	if err != nil {
		return nil, storeError("unblocking profile", err)
	}
	return &adminv1.UnblockProfileResponse{Profile: profileMsg(p)}, nil
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
