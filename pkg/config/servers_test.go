package config

import (
	"strings"
	"testing"
	"time"
)

// TestCheckAddrOffByDefault: the HTTP check trusts identity headers, so it
// is never served unless the operator names its own listener.
func TestCheckAddrOffByDefault(t *testing.T) {
	c := mustParse(t, "", nil)
	if c.CheckAddr != "" {
		t.Errorf("check_addr = %q by default, want off", c.CheckAddr)
	}
}

func TestCheckAddrFromFileEnvAndFlags(t *testing.T) {
	c := mustParse(t, "check_addr: 127.0.0.1:9092\n", nil)
	if c.CheckAddr != "127.0.0.1:9092" {
		t.Errorf("file: %q", c.CheckAddr)
	}
	c = mustParse(t, "", map[string]string{"EXTAUTHZ_CHECK_ADDR": "127.0.0.1:9093"})
	if c.CheckAddr != "127.0.0.1:9093" {
		t.Errorf("env: %q", c.CheckAddr)
	}
	c = mustParse(t, "", map[string]string{"EXTAUTHZ_CHECK_ADDR": "127.0.0.1:9093"}, "--check-addr", "127.0.0.1:9094")
	if c.CheckAddr != "127.0.0.1:9094" {
		t.Errorf("flag: %q", c.CheckAddr)
	}
}

func TestServerSettingsFromFile(t *testing.T) {
	c := mustParse(t, `
http_check:
  nginx: {uri_header: X-Uri, host_header: ""}
  forward: {method_header: "", uri_header: X-Edge-Uri}
http_server: {read_header_timeout: 2s, read_timeout: 3s, idle_timeout: 1m, max_header_bytes: 65536, max_conns: 10}
grpc_server: {max_recv_msg_size: 1048576, max_concurrent_streams: 8, keepalive_min_time: 30s, keepalive_permit_without_stream: false,
  max_connection_age: 2m, max_connection_age_grace: 0s}
shutdown_delay: 1s
log: {email_hash_key: 0123456789abcdef0123}
`, nil)
	if o := c.HTTPCheck.Nginx; o.URIHeader != "X-Uri" || o.MethodHeader != "X-Original-Method" || o.HostHeader != "" {
		t.Errorf("http_check.nginx = %+v", o)
	}
	if o := c.HTTPCheck.Forward; o.URIHeader != "X-Edge-Uri" || o.MethodHeader != "" || o.HostHeader != "X-Forwarded-Host" {
		t.Errorf("http_check.forward = %+v", o)
	}
	want := HTTPServer{ReadHeaderTimeout: 2 * time.Second, ReadTimeout: 3 * time.Second, IdleTimeout: time.Minute, MaxHeaderBytes: 65536, MaxConns: 10}
	if c.HTTPServer != want {
		t.Errorf("http_server = %+v", c.HTTPServer)
	}
	wantG := GRPCServer{MaxRecvMsgSize: 1 << 20, MaxConcurrentStreams: 8, KeepaliveMinTime: 30 * time.Second, MaxConnectionAge: 2 * time.Minute}
	if c.GRPCServer != wantG {
		t.Errorf("grpc_server = %+v", c.GRPCServer)
	}
	if c.ShutdownDelay != time.Second {
		t.Errorf("shutdown_delay = %s", c.ShutdownDelay)
	}
	if c.Log.EmailHashKey != "0123456789abcdef0123" {
		t.Errorf("log.email_hash_key = %q", c.Log.EmailHashKey)
	}
	if r := c.Redacted(); strings.Contains(r.Log.EmailHashKey, "0123456789") {
		t.Errorf("Redacted keeps log.email_hash_key")
	}
}

func TestServerSettingsDefaults(t *testing.T) {
	d := Default()
	if d.GRPCServer.MaxRecvMsgSize != 256<<10 {
		t.Errorf("grpc_server.max_recv_msg_size = %d, want 256 KiB", d.GRPCServer.MaxRecvMsgSize)
	}
	if d.HTTPCheck.Nginx.URIHeader != "X-Original-URI" || d.HTTPCheck.Forward.URIHeader != "X-Forwarded-Uri" {
		t.Errorf("http_check defaults: %+v", d.HTTPCheck)
	}
	h := d.HTTPServer
	if h.ReadHeaderTimeout <= 0 || h.ReadTimeout <= 0 || h.IdleTimeout <= 0 || h.MaxHeaderBytes <= 0 || h.MaxConns <= 0 {
		t.Errorf("http_server defaults leave a limit off: %+v", h)
	}
}

func TestServerSettingsValidation(t *testing.T) {
	tests := []struct {
		name string
		mod  func(c *Config)
		want string
	}{
		{"check_addr bad", func(c *Config) { c.CheckAddr = "9092" }, "check_addr: must be host:port"},
		{"check_addr same as http_addr", func(c *Config) { c.CheckAddr = c.HTTPAddr }, "check_addr: must differ from http_addr"},
		{"check_addr same as grpc_addr", func(c *Config) { c.CheckAddr = c.GRPCAddr }, "check_addr: must differ from grpc_addr"},
		{"uri header required", func(c *Config) { c.HTTPCheck.Forward.URIHeader = "" }, "http_check.forward.uri_header: must be set"},
		{"bad header name", func(c *Config) { c.HTTPCheck.Nginx.MethodHeader = "X Bad" }, "http_check.nginx.method_header: must be a valid header name"},
		{"read timeout", func(c *Config) { c.HTTPServer.ReadTimeout = 0 }, "http_server.read_timeout: must be a positive duration"},
		{"header timeout over read timeout", func(c *Config) { c.HTTPServer.ReadHeaderTimeout = time.Minute }, "http_server.read_header_timeout: must not exceed"},
		{"max header bytes", func(c *Config) { c.HTTPServer.MaxHeaderBytes = 100 }, "http_server.max_header_bytes: must be at least"},
		{"max conns", func(c *Config) { c.HTTPServer.MaxConns = 0 }, "http_server.max_conns: must be at least 1"},
		{"max recv", func(c *Config) { c.GRPCServer.MaxRecvMsgSize = 1 }, "grpc_server.max_recv_msg_size: must be at least"},
		{"streams", func(c *Config) { c.GRPCServer.MaxConcurrentStreams = 0 }, "grpc_server.max_concurrent_streams: must be at least 1"},
		{"keepalive", func(c *Config) { c.GRPCServer.KeepaliveMinTime = 0 }, "grpc_server.keepalive_min_time: must be a positive duration"},
		{"short hash key", func(c *Config) { c.Log.EmailHashKey = "secretkey" }, "log.email_hash_key: must be at least 16 characters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.mod(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("want %q, got %v", tt.want, err)
			}
			if strings.Contains(err.Error(), "secretkey") {
				t.Errorf("error echoes the hash key: %v", err)
			}
		})
	}
}
