// Package bench drives extauthz and a do-nothing ext_authz server (the
// floor, ./floor) over loopback gRPC in one run and reports the ratio. The
// driver is TestBench (load_test.go), run by scripts/bench.sh (make bench);
// it is skipped unless EXTAUTHZ_BENCH is set, so `go test ./...` stays fast.
package bench

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/extauthz/extauthz/test/harness"
)

// token is the deterministic session token of label: the same text the SQL
// seed computes ('v1.' || base64url(sha256(label)) without padding), so the
// benchmark can insert a million sessions in SQL and still present them.
func token(label string) string {
	sum := sha256.Sum256([]byte(label))
	return "v1." + base64.RawURLEncoding.EncodeToString(sum[:])
}

// tokenSQL is token() in SQL, for generate_series over 'prefix' || g.
const tokenSQL = `'v1.' || rtrim(translate(encode(sha256(convert_to(%s, 'UTF8')), 'base64'), '+/', '-_'), '=')`

func userEmail(k int) string { return "user" + strconv.Itoa(k) + "@bench.example" }

// request is a browser request as Envoy presents it: the usual headers plus
// the SSO proxy's identity headers and the cookie.
func request(email, cookie string) *authv3.CheckRequest {
	h := map[string]string{
		"user-agent":        "Mozilla/5.0 (X11; Linux x86_64) bench",
		"accept":            "text/html,application/xhtml+xml",
		"accept-language":   "en",
		"x-forwarded-proto": "https",
		"x-forwarded-for":   "10.0.0.1",
		"x-request-id":      "7f0c2a4e-bench",
	}
	if email != "" {
		h["x-auth-request-email"] = email
		h["x-auth-request-user"] = email
	}
	r := harness.Request{Path: "/projects/42", Headers: h, Cookie: cookie}
	return r.Envoy()
}

// jwtApp is the bench's app on identity_jwt.
const jwtApp = "jwt"

// jwtRequest is request for app jwtApp: the proxy's id_token as
// "Authorization: Bearer" beside the identity headers.
func jwtRequest(email, idToken, cookie string) *authv3.CheckRequest {
	req := request(email, cookie)
	req.GetAttributes().GetRequest().GetHttp().GetHeaders()["authorization"] = "Bearer " + idToken
	req.Attributes.ContextExtensions = map[string]string{"app": jwtApp}
	return req
}

// result is one measured run.
type result struct {
	name     string
	requests int
	errors   int
	elapsed  time.Duration
	lat      []time.Duration // sorted
	reasons  map[string]int
	cpu      time.Duration // the server's CPU per request, when measured
}

func (r result) rps() float64 { return float64(r.requests) / r.elapsed.Seconds() }

func (r result) pct(p float64) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	i := int(float64(len(r.lat)-1) * p)
	return r.lat[i]
}

// mainReason is the most frequent reason code (and its share).
func (r result) mainReason() string {
	best, n := "", 0
	for k, v := range r.reasons {
		if v > n {
			best, n = k, v
		}
	}
	if best == "" {
		best = "-"
	}
	if r.requests == 0 {
		return best
	}
	return fmt.Sprintf("%s %.0f%%", best, 100*float64(n)/float64(r.requests))
}

// load describes one run: closed loop (rate 0: every worker sends as soon
// as its last answer arrived) or paced (rate req/s in total, latency
// measured from the scheduled send time so queueing counts).
type load struct {
	conns       []*grpc.ClientConn // made with dial (the raw codec)
	concurrency int
	duration    time.Duration
	limit       int                   // stop after this many requests (0: duration only)
	rate        float64               // req/s; 0 = closed loop
	next        func(i uint64) []byte // a serialized CheckRequest (wire)
}

// The load generator shares the machine with the servers it measures, so
// it does as little as it can per request: requests are serialized ahead
// of time where they repeat, and an answer is read only as far as its
// reason header. Its own cost then weighs little on either server's
// throughput, and the comparison with the floor is about the servers.

// rawCodec sends and receives serialized messages as they are.
type rawCodec struct{}

func (rawCodec) Name() string { return "proto" }

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	return mem.BufferSlice{mem.SliceBuffer(*v.(*[]byte))}, nil
}

func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	*v.(*[]byte) = data.Materialize()
	return nil
}

// dial connects to addr with the raw codec.
func dial(addr string) (*grpc.ClientConn, error) {
	return grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.ForceCodecV2(rawCodec{})))
}

// wire serializes r.
func wire(r *authv3.CheckRequest) []byte {
	b, err := proto.Marshal(r)
	if err != nil {
		panic(err)
	}
	return b
}

const checkMethod = "/envoy.service.auth.v3.Authorization/Check"

func (l load) run(ctx context.Context, name string) result {
	var (
		counter atomic.Uint64
		mu      sync.Mutex
		res     = result{name: name, reasons: map[string]int{}}
		wg      sync.WaitGroup
	)
	start := time.Now()
	end := start.Add(l.duration)
	for w := range l.concurrency {
		conn := l.conns[w%len(l.conns)]
		wg.Go(func() {
			lat, reasons, errs := l.work(ctx, conn, w, start, end, &counter)
			mu.Lock()
			res.lat = append(res.lat, lat...)
			res.errors += errs
			for k, v := range reasons {
				res.reasons[k] += v
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	if res.elapsed > l.duration && l.duration > 0 {
		res.elapsed = l.duration
	}
	res.requests = len(res.lat)
	slices.Sort(res.lat)
	return res
}

// work is worker w of run: it sends requests on conn until end or the
// limit (counter numbers the requests of all workers) and returns their
// latencies, the reasons answered and the number of failed calls.
func (l load) work(ctx context.Context, conn *grpc.ClientConn, w int, start, end time.Time, counter *atomic.Uint64) ([]time.Duration, map[string]int, int) {
	lat := make([]time.Duration, 0, 1<<14)
	reasons := map[string]int{}
	errs := 0
	for k := 0; ; k++ {
		var sched time.Time
		if l.rate > 0 {
			sched = start.Add(time.Duration(float64(k*l.concurrency+w) / l.rate * float64(time.Second)))
			if d := time.Until(sched); d > 0 {
				time.Sleep(d)
			}
		}
		now := time.Now()
		if now.After(end) {
			break
		}
		i := counter.Add(1) - 1
		if l.limit > 0 && int(i) >= l.limit {
			break
		}
		if l.rate == 0 {
			sched = now
		}
		req := l.next(i)
		var resp []byte
		err := conn.Invoke(ctx, checkMethod, &req, &resp)
		lat = append(lat, time.Since(sched))
		if err != nil {
			errs++
			continue
		}
		reasons[reasonOf(resp)]++
	}
	return lat, reasons, errs
}

// reasonOf reads the x-extauthz-reason header of a serialized
// CheckResponse (ok_response.response_headers_to_add, or
// denied_response.headers); "ok" when there is none.
func reasonOf(b []byte) string {
	// CheckResponse: denied_response = 2, ok_response = 3;
	// OkHttpResponse.response_headers_to_add = 6; DeniedHttpResponse.headers = 2;
	// HeaderValueOption.header = 1; HeaderValue.key = 1, value = 2.
	for _, path := range [][2]protowire.Number{{3, 6}, {2, 2}} {
		for _, resp := range fields(b, path[0]) {
			for _, opt := range fields(resp, path[1]) {
				for _, hv := range fields(opt, 1) {
					if k := fields(hv, 1); len(k) == 1 && string(k[0]) == "x-extauthz-reason" {
						if v := fields(hv, 2); len(v) == 1 {
							return string(v[0])
						}
					}
				}
			}
		}
	}
	return "ok"
}

// fields returns the values of the length-delimited fields num of the
// message b.
func fields(b []byte, num protowire.Number) [][]byte {
	var out [][]byte
	for len(b) > 0 {
		n, typ, m := protowire.ConsumeTag(b)
		if m < 0 {
			return nil
		}
		b = b[m:]
		m = protowire.ConsumeFieldValue(n, typ, b)
		if m < 0 {
			return nil
		}
		if n == num && typ == protowire.BytesType {
			v, _ := protowire.ConsumeBytes(b[:m])
			out = append(out, v)
		}
		b = b[m:]
	}
	return out
}
