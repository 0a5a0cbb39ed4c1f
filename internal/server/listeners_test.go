package server

import (
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/extauthz/extauthz/pkg/config"
)

// A connection that never sends a request (an HTTP client's spare dial, a
// port scan) must not make shutdown fail: net/http's Shutdown leaves such a
// connection alone for 5 s, and the process used to exit 1 with "context
// deadline exceeded" when one was open.
func TestHTTPStopWithAnIdleNewConnection(t *testing.T) {
	c := config.Default().HTTPServer
	s, err := listenHTTP("http_addr", "127.0.0.1:0", c, http.NotFoundHandler(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve() }()
	conn, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Wait until the server has accepted it (a request on another
	// connection is answered only after the accept loop moved on).
	if resp, err := http.Get("http://" + s.Addr() + "/"); err == nil {
		resp.Body.Close()
	}
	if err := s.Stop(200 * time.Millisecond); err != nil {
		t.Fatalf("Stop with a connection that sent nothing: %v", err)
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := conn.Read(make([]byte, 1)); err == nil {
		t.Fatal("the idle connection is still open after Stop")
	}
}
