package chaos

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/extauthz/extauthz/test/harness"
)

const sessionCookie = "extauthz_session"

// role is what a simulated browser is, and so what it may legitimately get.
type role int

const (
	// steady: a known, active profile whose session was established (and
	// cached) before any fault. It must get 200 with its own profile id on
	// every request while the cache holds it, and never lose its cookie.
	steady role = iota
	// stranger: a fixed email no profile has, no cookie. 200 identity_unknown
	// (anonymous) or 503; never a profile id, never a cookie.
	stranger
	// ghost: a fresh never-seen email on every request, so never cached:
	// the probe that shows whether the database answers.
	ghost
	// victim: a steady browser whose profile the test blocks on purpose
	// (listen_killed). 403 profile_blocked with its cookie expired is then
	// the expected answer.
	victim
)

func (r role) String() string {
	return [...]string{"steady", "stranger", "ghost", "victim"}[r]
}

// browser is one simulated browser: a fixed identity and a cookie jar.
type browser struct {
	name    string
	role    role
	email   string
	profile string // the profile id its email resolves to ("" if none)

	mu    sync.Mutex
	token string // the jar: the service's session cookie
	// blockedAt is when the test blocked this browser's profile (victims).
	blockedAt time.Time
}

func (b *browser) jar() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.token
}

// record is one response as the load generator saw it.
type record struct {
	browser    string
	role       role
	sent, done time.Time
	status     int // 0: the RPC itself failed
	reason     string
	profile    string // upstream x-profile-id on allow
	setCookies []string
	expired    bool // the service cookie was expired
	rekeyed    bool // a new service cookie was issued
	hadCookie  bool
	err        string
	// problem names the invariant this response breaks ("" if none).
	problem string
}

// load drives a service with a fixed set of browsers plus ghosts, each at a
// fixed pace, and records every response.
type load struct {
	t        testing.TB
	svc      *harness.Service
	browsers []*browser
	interval time.Duration
	ghostSeq atomic.Int64

	mu   sync.Mutex
	recs []record

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func newLoad(t testing.TB, svc *harness.Service, browsers []*browser, interval time.Duration) *load {
	return &load{t: t, svc: svc, browsers: browsers, interval: interval}
}

// ghostEmail returns a never-seen email.
func (l *load) ghostEmail() string {
	return fmt.Sprintf("ghost-%d@example.com", l.ghostSeq.Add(1))
}

// do sends one Check for b (nil: a ghost) and records the response. The
// jar follows Set-Cookie as a browser would.
func (l *load) do(b *browser) record {
	r := harness.Request{Path: "/app/page", Headers: map[string]string{"accept": "application/json"}}
	rec := record{browser: "ghost", role: ghost}
	if b == nil {
		r.Headers["x-auth-request-email"] = l.ghostEmail()
	} else {
		rec.browser, rec.role = b.name, b.role
		r.Headers["x-auth-request-email"] = b.email
		if tok := b.jar(); tok != "" {
			r.Cookie = sessionCookie + "=" + tok
			rec.hadCookie = true
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	rec.sent = time.Now()
	resp, err := l.svc.Check(ctx, r)
	rec.done = time.Now()
	cancel()
	if err != nil {
		rec.err = err.Error()
	} else {
		res := harness.Read(resp)
		rec.status, rec.reason, rec.setCookies = res.Status, res.Reason(), res.SetCookies
		if res.Allow {
			rec.profile = res.Upstream["x-profile-id"]
		}
		rec.expired = res.Expires(sessionCookie)
		if tok := res.SessionToken(sessionCookie); tok != "" && !rec.expired {
			rec.rekeyed = true
		}
		if b != nil {
			b.mu.Lock()
			switch {
			case rec.expired:
				b.token = ""
			case rec.rekeyed:
				b.token = res.SessionToken(sessionCookie)
			}
			b.mu.Unlock()
		}
	}
	rec.problem = judge(b, rec)
	l.mu.Lock()
	l.recs = append(l.recs, rec)
	l.mu.Unlock()
	return rec
}

// judge names the invariant a response breaks, whatever the fault: the
// load never does anything that may legitimately log a browser out or
// switch its identity (except blocking a victim on purpose).
func judge(b *browser, r record) string {
	if r.err != "" {
		return "" // counted as "other"; judged by the recovery bound
	}
	for _, c := range r.setCookies {
		if strings.ContainsAny(c, "\r\n") {
			return "Set-Cookie with CR/LF"
		}
	}
	if b == nil || b.role == stranger {
		switch {
		case r.profile != "":
			return "identity switch: a never-seen email got profile " + r.profile
		case r.rekeyed:
			return "a never-seen email got a session cookie"
		case r.status == 200 && r.reason != "identity_unknown":
			return "never-seen email allowed as " + r.reason
		case r.status != 200 && r.status != 503:
			return fmt.Sprintf("never-seen email denied %d %s", r.status, r.reason)
		case r.status == 503 && r.reason != "lookup_unavailable":
			return "503 with reason " + r.reason
		}
		return ""
	}
	b.mu.Lock()
	blockedAt := b.blockedAt
	b.mu.Unlock()
	if b.role == victim && !blockedAt.IsZero() && r.sent.After(blockedAt) {
		// The block may or may not have reached this request yet.
		if r.status == 403 && r.reason == "profile_blocked" {
			return ""
		}
	}
	switch {
	case r.expired:
		return "cookie expired (" + r.reason + ")"
	case r.rekeyed && r.hadCookie:
		return "session replaced (" + r.reason + "): the browser lost its session"
	case r.status == 200 && r.profile != b.profile:
		return fmt.Sprintf("identity switch: %s got profile %q (%s), want %q", b.name, r.profile, r.reason, b.profile)
	case r.status == 503 && r.reason != "lookup_unavailable":
		return "503 with reason " + r.reason
	case r.status == 503 && len(r.setCookies) > 0:
		return "503 with Set-Cookie"
	case r.status != 200 && r.status != 503:
		return fmt.Sprintf("known browser denied %d %s", r.status, r.reason)
	}
	return ""
}

// start runs every browser and one ghost stream at the load's pace until stop.
func (l *load) start() {
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	run := func(b *browser, offset time.Duration) {
		defer l.wg.Done()
		// Spread the browsers over the interval.
		first := time.NewTimer(offset)
		select {
		case <-ctx.Done():
			first.Stop()
			return
		case <-first.C:
		}
		tick := time.NewTicker(l.interval)
		defer tick.Stop()
		for {
			l.do(b)
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}
	n := len(l.browsers) + 1
	for i, b := range l.browsers {
		l.wg.Add(1)
		go run(b, l.interval*time.Duration(i)/time.Duration(n))
	}
	l.wg.Add(1)
	go run(nil, l.interval*time.Duration(n-1)/time.Duration(n))
}

// stop ends the load and waits for in-flight requests.
func (l *load) stop() {
	l.cancel()
	l.wg.Wait()
}

// burst sends n ghost checks at once and waits for all of them.
func (l *load) burst(n int) {
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() { defer wg.Done(); l.do(nil) }()
	}
	wg.Wait()
}

// records returns a copy of what was recorded so far.
func (l *load) records() []record {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]record(nil), l.recs...)
}

// faultLike reports a response that shows the database was not answering.
func faultLike(r record) bool { return r.err != "" || r.status == 503 }

// figures are one fault's row of the table.
type figures struct {
	fault      string
	requests   int
	ok, unavai int
	other      int
	// warm503 counts 503s to browsers whose answer was cached before the
	// fault, sent while the fault lasted.
	warm503    int
	expiries   int // cookie expiries that were not an intended block
	switches   int // identity switches (and never-seen emails given a profile)
	lost       int // sessions replaced
	problems   int
	recovery   time.Duration
	recovered  bool
	reasons    map[string]int
	faultStart time.Time
	faultEnd   time.Time
	note       string
}

// summarise computes the figures of recs for a fault in [start, end].
func summarise(name string, recs []record, start, end time.Time) figures {
	f := figures{fault: name, reasons: map[string]int{}, faultStart: start, faultEnd: end}
	for _, r := range recs {
		f.requests++
		key := fmt.Sprintf("%d %s", r.status, r.reason)
		if r.err != "" {
			key = "rpc error"
		}
		f.reasons[key]++
		switch {
		case r.err == "" && r.status == 200:
			f.ok++
		case r.err == "" && r.status == 503:
			f.unavai++
		default:
			f.other++
		}
		if r.expired && r.problem != "" {
			f.expiries++
		}
		if strings.HasPrefix(r.problem, "identity switch") {
			f.switches++
		}
		if strings.HasPrefix(r.problem, "session replaced") {
			f.lost++
		}
		if r.problem != "" {
			f.problems++
		}
		during := !r.done.Before(start) && !r.sent.After(end)
		if during && r.role == steady && r.status == 503 {
			f.warm503++
		}
		if r.sent.After(end) && faultLike(r) {
			if d := r.done.Sub(end); d > f.recovery {
				f.recovery = d
			}
		}
	}
	return f
}

// problemsOf returns the distinct problems with a count, for failure messages.
func problemsOf(recs []record) string {
	n := map[string]int{}
	for _, r := range recs {
		if r.problem != "" {
			n[r.browser+": "+r.problem]++
		}
	}
	var out []string
	for k, v := range n {
		out = append(out, fmt.Sprintf("%5d× %s", v, k))
	}
	sort.Strings(out)
	if len(out) > 20 {
		out = append(out[:20], fmt.Sprintf("… and %d more kinds", len(out)-20))
	}
	return strings.Join(out, "\n")
}

// table renders figures as a fixed-width table.
func table(fs []figures) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-22s %8s %7s %7s %6s %9s %9s %9s %6s %10s\n",
		"fault", "requests", "200", "503", "other", "warm 503", "expiries", "switches", "lost", "recovery")
	for _, f := range fs {
		rec := "—"
		if f.recovered {
			rec = f.recovery.Round(10 * time.Millisecond).String()
		}
		fmt.Fprintf(&b, "%-22s %8d %7d %7d %6d %9d %9d %9d %6d %10s\n",
			f.fault, f.requests, f.ok, f.unavai, f.other, f.warm503, f.expiries, f.switches, f.lost, rec)
	}
	return b.String()
}

// reasonLine renders the per-reason counts of one fault.
func reasonLine(f figures) string {
	keys := make([]string, 0, len(f.reasons))
	for k := range f.reasons {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d", k, f.reasons[k])
	}
	return f.fault + ": " + strings.Join(parts, ", ")
}
