// Command floor is the do-nothing ext_authz server extauthz is measured
// against: every Check is allowed at once, with no parsing, no lookups and
// no headers. Its HTTP listener does the same for the HTTP check (any
// request to /check answers 200 with no body), the floor of nginx
// auth_request, Traefik forwardAuth and Caddy forward_auth. It also serves
// its malloc count and allocated bytes (GET /mallocs) so that the
// benchmark can report allocations per request for the floor too, and a CPU
// profile (GET /debug/pprof/profile) to compare with extauthz's.
//
// Usage: floor -grpc 127.0.0.1:PORT -http 127.0.0.1:PORT [-workers N]
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"runtime"
	"syscall"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
)

type allow struct {
	authv3.UnimplementedAuthorizationServer
}

var ok = &authv3.CheckResponse{Status: &status.Status{}}

func (allow) Check(context.Context, *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	return ok, nil
}

func main() {
	grpcAddr := flag.String("grpc", "127.0.0.1:0", "gRPC listen address")
	httpAddr := flag.String("http", "127.0.0.1:0", "HTTP listen address for /mallocs")
	workers := flag.Int("workers", 0, "gRPC stream workers (0: gRPC's default, a goroutine per call)")
	flag.Parse()
	ln, err := net.Listen("tcp", *grpcAddr)
	if err != nil {
		log.Fatal(err)
	}
	hl, err := net.Listen("tcp", *httpAddr)
	if err != nil {
		log.Fatal(err)
	}
	var opts []grpc.ServerOption
	if *workers > 0 {
		opts = append(opts, grpc.NumStreamWorkers(uint32(*workers)))
	}
	gs := grpc.NewServer(opts...)
	authv3.RegisterAuthorizationServer(gs, allow{})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /mallocs", func(w http.ResponseWriter, _ *http.Request) {
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		fmt.Fprintln(w, m.Mallocs, m.TotalAlloc)
	})
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/check", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	go func() { _ = http.Serve(hl, mux) }()
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
		<-sig
		gs.Stop()
	}()
	fmt.Printf("ready grpc=%s http=%s\n", ln.Addr(), hl.Addr())
	if err := gs.Serve(ln); err != nil {
		log.Fatal(err)
	}
}
