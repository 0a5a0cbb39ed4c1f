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
	// (listen_killed, primary_failover). 403 profile_blocked with its
	// cookie expired is then the expected answer.
	victim
	// switcher: a browser whose person changes — "log out of all apps, sign
	// in as somebody else" — every switchEvery ticks, between two known
	// profiles, keeping the app cookie of the previous one. The tick of a
	// switch sends fan requests at once (a page loading several resources),
	// each carrying the old cookie and the new identity: re-keyed to the new
	// profile, or 503 without Set-Cookie; never the previous profile.
	switcher
	// newcomer: a first sign-in of a never-seen email on the auto-register
	// app, started during the run; from its first 200 on it must keep the
	// profile it was given and its session, like a steady browser.
	newcomer
)

func (r role) String() string {
	return [...]string{"steady", "stranger", "ghost", "victim", "switcher", "newcomer"}[r]
}

// Mixed traffic.
const (
	switchEvery = 4 // a switcher's person changes every 4th tick
	fan         = 3 // concurrent requests on the tick of a switch
)

// browser is one simulated browser: a fixed identity (two for a switcher)
// and a cookie jar.
type browser struct {
	name    string
	role    role
	app     string // "" for the default app
	email   string
	profile string // the profile id its email resolves to ("" if none; a newcomer learns it)
	// other is a switcher's second identity.
	other struct{ email, profile string }

	mu       sync.Mutex
	token    string // the jar: the service's session cookie
	tokenFor string // the email the jar's cookie was issued for
	ticks    int
	switched bool // a switcher currently is its other identity
	// blockedAt is when the test blocked this browser's profile (victims).
	blockedAt time.Time
}

// identity returns the email the browser presents now and the profile id
// it must be given.
func (b *browser) identity() (email, profile string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.switched {
		return b.other.email, b.other.profile
	}
	return b.email, b.profile
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
	email      string // the identity sent
	want       string // the profile id that identity must get ("" unknown)
	sentToken  string // the cookie sent
	tokenFor   string // the identity the cookie sent was issued for
	replica    int    // which service answered
	err        string
	// problem names the invariant this response breaks ("" if none).
	problem string
}

// load drives a service with a fixed set of browsers plus ghosts, each at a
// fixed pace, and records every response.
type load struct {
	t        testing.TB
	svcs     []*harness.Service // requests go round-robin, as behind Envoy
	browsers []*browser
	interval time.Duration
	ghostSeq atomic.Int64
	next     atomic.Uint64
	// newcomers are started one every newcomerEvery once the load runs.
	newcomers     []*browser
	newcomerEvery time.Duration

	mu   sync.Mutex
	recs []record

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func newLoad(t testing.TB, svcs []*harness.Service, browsers []*browser, interval time.Duration) *load {
	return &load{t: t, svcs: svcs, browsers: browsers, interval: interval}
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
		rec.email = l.ghostEmail()
	} else {
		rec.browser, rec.role = b.name, b.role
		r.App = b.app
		rec.email, rec.want = b.identity()
		b.mu.Lock()
		rec.sentToken, rec.tokenFor = b.token, b.tokenFor
		b.mu.Unlock()
		if rec.sentToken != "" {
			r.Cookie = sessionCookie + "=" + rec.sentToken
			rec.hadCookie = true
		}
	}
	r.Headers["x-auth-request-email"] = rec.email
	rec.replica = int(l.next.Add(1) % uint64(len(l.svcs)))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	rec.sent = time.Now()
	resp, err := l.svcs[rec.replica].Check(ctx, r)
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
				b.token, b.tokenFor = "", ""
			case rec.rekeyed:
				b.token, b.tokenFor = res.SessionToken(sessionCookie), rec.email
			}
			if b.role == newcomer && b.profile == "" && rec.status == 200 && rec.profile != "" {
				b.profile = rec.profile // its first sign-in registered it
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
	case r.rekeyed && r.hadCookie && r.tokenFor == r.email:
		return "session replaced (" + r.reason + "): the browser lost its session"
	case r.status == 200 && r.want != "" && r.profile != r.want:
		return fmt.Sprintf("identity switch: %s as %s got profile %q (%s), want %q", b.name, r.email, r.profile, r.reason, r.want)
	case r.status == 200 && r.profile == "":
		return fmt.Sprintf("%s as %s allowed without a profile (%s)", b.name, r.email, r.reason)
	case r.status == 200 && r.hadCookie && r.tokenFor != r.email && !r.rekeyed:
		return fmt.Sprintf("identity switch: %s as %s kept the cookie of %s (%s)", b.name, r.email, r.tokenFor, r.reason)
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
			l.tick(b)
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
	if len(l.newcomers) > 0 {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for _, b := range l.newcomers {
				t := time.NewTimer(l.newcomerEvery)
				select {
				case <-ctx.Done():
					t.Stop()
					return
				case <-t.C:
				}
				l.wg.Add(1)
				go run(b, 0)
			}
		}()
	}
}

// tick is one beat of a browser: one request, or for a switcher whose
// person changes on this beat, fan concurrent ones as the new person.
func (l *load) tick(b *browser) {
	if b == nil || b.role != switcher {
		l.do(b)
		return
	}
	b.mu.Lock()
	b.ticks++
	change := b.ticks%switchEvery == 0
	if change {
		b.switched = !b.switched
	}
	b.mu.Unlock()
	if !change {
		l.do(b)
		return
	}
	var wg sync.WaitGroup
	for range fan {
		wg.Add(1)
		go func() { defer wg.Done(); l.do(b) }()
	}
	wg.Wait()
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
	warm503  int
	expiries int // cookie expiries that were not an intended block
	switches int // identity switches (and never-seen emails given a profile)
	lost     int // sessions replaced
	problems int
	recovery time.Duration
	// window is the 503 window: from the first request sent during the
	// fault that got a 503 (or a failed RPC) to the last such answer.
	window     time.Duration
	recovered  bool
	reasons    map[string]int
	faultStart time.Time
	faultEnd   time.Time
	note       string
}

// summarise computes the figures of recs for a fault in [start, end].
func summarise(name string, recs []record, start, end time.Time) figures {
	f := figures{fault: name, reasons: map[string]int{}, faultStart: start, faultEnd: end}
	var first, last time.Time
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
		if !r.sent.Before(start) && faultLike(r) {
			if first.IsZero() || r.sent.Before(first) {
				first = r.sent
			}
			if r.done.After(last) {
				last = r.done
			}
		}
		if r.sent.After(end) && faultLike(r) {
			if d := r.done.Sub(end); d > f.recovery {
				f.recovery = d
			}
		}
	}
	if !first.IsZero() {
		f.window = last.Sub(first)
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
	fmt.Fprintf(&b, "%-24s %8s %7s %7s %6s %9s %9s %9s %6s %10s %10s\n",
		"fault", "requests", "200", "503", "other", "warm 503", "expiries", "switches", "lost", "503 window", "recovery")
	for _, f := range fs {
		rec := "—"
		if f.recovered {
			rec = f.recovery.Round(10 * time.Millisecond).String()
		}
		fmt.Fprintf(&b, "%-24s %8d %7d %7d %6d %9d %9d %9d %6d %9.2fs %10s\n",
			f.fault, f.requests, f.ok, f.unavai, f.other, f.warm503, f.expiries, f.switches, f.lost, f.window.Seconds(), rec)
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
