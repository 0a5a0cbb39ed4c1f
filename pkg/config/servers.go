package config

import (
	"strings"
)

// Lower bounds of the server limits: below them ordinary traffic fails.
const (
	minMaxHeaderBytes = 8 << 10  // a browser's cookies and an SSO proxy's headers
	minMaxRecvMsgSize = 16 << 10 // a CheckRequest without body is a few KiB
	minEmailHashKey   = 16
)

// validateListeners checks check_addr, the HTTP check origins, the HTTP and
// gRPC server limits and log.email_hash_key.
func (c Config) validateListeners(p *problems) {
	if c.CheckAddr != "" {
		checkAddr(p, "check_addr", c.CheckAddr)
		for _, o := range []struct{ k, v string }{{"grpc_addr", c.GRPCAddr}, {"http_addr", c.HTTPAddr}, {"admin_addr", c.AdminAddr}} {
			if c.CheckAddr == o.v && !strings.HasSuffix(c.CheckAddr, ":0") {
				p.add("check_addr", "must differ from %s (both %q)", o.k, c.CheckAddr)
			}
		}
	}
	for _, o := range []struct {
		key string
		o   Origin
	}{{"http_check.nginx", c.HTTPCheck.Nginx}, {"http_check.forward", c.HTTPCheck.Forward}} {
		checkHeader(p, o.key+".method_header", o.o.MethodHeader, false)
		checkHeader(p, o.key+".uri_header", o.o.URIHeader, true)
		checkHeader(p, o.key+".host_header", o.o.HostHeader, false)
		checkHeader(p, o.key+".proto_header", o.o.ProtoHeader, false)
	}

	h := c.HTTPServer
	positive(p, "http_server.read_header_timeout", h.ReadHeaderTimeout)
	positive(p, "http_server.read_timeout", h.ReadTimeout)
	positive(p, "http_server.idle_timeout", h.IdleTimeout)
	if h.ReadHeaderTimeout > 0 && h.ReadTimeout > 0 && h.ReadHeaderTimeout > h.ReadTimeout {
		p.add("http_server.read_header_timeout", "must not exceed http_server.read_timeout (%s), got %s", h.ReadTimeout, h.ReadHeaderTimeout)
	}
	if h.MaxHeaderBytes < minMaxHeaderBytes {
		p.add("http_server.max_header_bytes", "must be at least %d, got %d", minMaxHeaderBytes, h.MaxHeaderBytes)
	}
	if h.MaxConns < 1 {
		p.add("http_server.max_conns", "must be at least 1, got %d", h.MaxConns)
	}

	g := c.GRPCServer
	if g.MaxRecvMsgSize < minMaxRecvMsgSize {
		p.add("grpc_server.max_recv_msg_size", "must be at least %d, got %d", minMaxRecvMsgSize, g.MaxRecvMsgSize)
	}
	if g.MaxConcurrentStreams < 1 {
		p.add("grpc_server.max_concurrent_streams", "must be at least 1, got %d", g.MaxConcurrentStreams)
	}
	positive(p, "grpc_server.keepalive_min_time", g.KeepaliveMinTime)

	if k := c.Log.EmailHashKey; k != "" && len(k) < minEmailHashKey {
		p.add("log.email_hash_key", "must be at least %d characters, got %d", minEmailHashKey, len(k))
	}
}
