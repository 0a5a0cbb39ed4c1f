package envoy

import (
	"context"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
)

// RegisterWire registers srv as the Authorization service of s on the wire
// path: Check reads the serialized request with DecodeInput and writes the
// answer with EncodeDecision, never building the generated messages. s must
// have been created with WireCodec (the handler needs the raw bytes, which
// only that codec hands over); every other service and message on s goes
// through the standard protobuf codec as before.
func RegisterWire(s *grpc.Server, srv *Server) {
	desc := authv3.Authorization_ServiceDesc // a copy: Methods is replaced, not mutated
	desc.Methods = []grpc.MethodDesc{{MethodName: "Check", Handler: wireCheckHandler}}
	s.RegisterService(&desc, srv)
}

// WireCodec is the server option RegisterWire needs. It rests on
// grpc.ForceServerCodecV2, which grpc-go still marks experimental; an
// upgrade that changes it fails TestGoldenOverGRPC, and serve can go back
// to Register (the generated path) without any other change.
func WireCodec() grpc.ServerOption {
	return grpc.ForceServerCodecV2(wireCodec{std: encoding.GetCodecV2(proto.Name)})
}

// wireRequest and wireResponse carry serialized messages through the codec.
type (
	wireRequest  struct{ b []byte }
	wireResponse struct{ b []byte }
)

func wireCheckHandler(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
	s := srv.(*Server)
	if interceptor != nil {
		// Interceptors expect the generated types.
		req := new(authv3.CheckRequest)
		if err := dec(req); err != nil {
			return nil, err
		}
		info := &grpc.UnaryServerInfo{Server: srv, FullMethod: authv3.Authorization_Check_FullMethodName}
		return interceptor(ctx, req, info, func(ctx context.Context, req any) (any, error) {
			return s.Check(ctx, req.(*authv3.CheckRequest))
		})
	}
	req := new(wireRequest)
	if err := dec(req); err != nil {
		return nil, err
	}
	b, err := s.CheckWire(ctx, req.b)
	if err != nil {
		return nil, err
	}
	return &wireResponse{b: b}, nil
}

// wireCodec hands Check its bytes and passes everything else to the
// standard codec.
type wireCodec struct{ std encoding.CodecV2 }

func (c wireCodec) Name() string { return proto.Name }

func (c wireCodec) Marshal(v any) (mem.BufferSlice, error) {
	if r, ok := v.(*wireResponse); ok {
		return mem.BufferSlice{mem.SliceBuffer(r.b)}, nil
	}
	return c.std.Marshal(v)
}

func (c wireCodec) Unmarshal(data mem.BufferSlice, v any) error {
	if r, ok := v.(*wireRequest); ok {
		r.b = data.Materialize() // a copy the request's strings may share
		return nil
	}
	return c.std.Unmarshal(data, v)
}
