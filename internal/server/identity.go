package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/extauthz/extauthz/pkg/authz"
	"github.com/extauthz/extauthz/pkg/cache"
	"github.com/extauthz/extauthz/pkg/oidc"
	"github.com/extauthz/extauthz/pkg/session"
	"github.com/extauthz/extauthz/pkg/store/notify"
)

// logoutStore is what back-channel logout needs of the session store.
type logoutStore interface {
	Logout(ctx context.Context, lo session.Logout) (int, error)
	Logouts(ctx context.Context, now time.Time) ([]session.Logout, error)
	DeleteExpiredLogouts(ctx context.Context, before time.Time) (int, error)
}

// identity wires identity_jwt: one verifier per distinct app setting
// (sharing key sets per issuer), the replica's ledger of back-channel
// logouts and what feeds it, and the back-channel endpoint's verifiers.
type identity struct {
	ledger *oidc.Ledger
	byApp  map[string]authz.IdentityVerifier
	logout []*oidc.Verifier // one per issuer, accepting every app's audiences
	// appLogout verifies the logout tokens posted under one app's path
	// (/oidc/backchannel-logout/<app>): that app's issuer and audiences only.
	appLogout map[string]*oidc.Verifier
	keySets   []*oidc.KeySet
	store     logoutStore
	log       *slog.Logger
	reloadMu  sync.Mutex
}

// newIdentity builds the verifiers of policies' identity_jwt settings.
func newIdentity(policies []authz.Policy, store logoutStore, log *slog.Logger) *identity {
	id := &identity{ledger: oidc.NewLedger(nil), byApp: map[string]authz.IdentityVerifier{},
		appLogout: map[string]*oidc.Verifier{}, store: store, log: log}
	keySets := map[string]*oidc.KeySet{}
	verifiers := map[string]*oidc.Verifier{}
	type issuer struct {
		keys      *oidc.KeySet
		audiences []string
		leeway    time.Duration
	}
	issuers := map[string]*issuer{}
	var order []string
	for _, p := range policies {
		tp := p.IdentityJWT
		if !tp.On() {
			continue
		}
		ksKey := tp.Issuer + "\x00" + tp.JWKSURL
		ks := keySets[ksKey]
		if ks == nil {
			ks = oidc.NewKeySet(oidc.KeySetConfig{Issuer: tp.Issuer, JWKSURL: tp.JWKSURL})
			keySets[ksKey] = ks
			id.keySets = append(id.keySets, ks)
		}
		vKey := fmt.Sprint(ksKey, "\x00", strings.Join(tp.Audiences, ","), "\x00", tp.EmailClaim, "\x00", tp.Leeway)
		v := verifiers[vKey]
		if v == nil {
			v = oidc.NewVerifier(oidc.VerifierConfig{Keys: ks, Issuer: tp.Issuer, Audiences: tp.Audiences,
				EmailClaim: tp.EmailClaim, Leeway: tp.Leeway})
			verifiers[vKey] = v
		}
		id.byApp[p.App] = oidc.Identity{Verifier: v, Ledger: id.ledger}
		id.appLogout[p.App] = oidc.NewVerifier(oidc.VerifierConfig{Keys: ks, Issuer: tp.Issuer,
			Audiences: tp.Audiences, Leeway: tp.Leeway, CacheSize: -1})
		is := issuers[tp.Issuer]
		if is == nil {
			is = &issuer{keys: ks}
			issuers[tp.Issuer] = is
			order = append(order, tp.Issuer)
		}
		is.audiences = append(is.audiences, tp.Audiences...)
		is.leeway = max(is.leeway, tp.Leeway)
	}
	for _, iss := range order {
		is := issuers[iss]
		slices.Sort(is.audiences)
		id.logout = append(id.logout, oidc.NewVerifier(oidc.VerifierConfig{
			Keys: is.keys, Issuer: iss, Audiences: slices.Compact(is.audiences), Leeway: is.leeway, CacheSize: -1,
		}))
	}
	return id
}

// on reports whether any app uses identity_jwt.
func (id *identity) on() bool { return id != nil && len(id.logout) > 0 }

// feeds is what the change feed must tell besides the caches: the ledger
// of back-channel logouts, when any app uses identity_jwt.
func (id *identity) feeds() []cache.Invalidator {
	if !id.on() {
		return nil
	}
	return []cache.Invalidator{id}
}

// verifier returns app's identity verifier (nil when it has none).
func (id *identity) verifier(app string) authz.IdentityVerifier { return id.byApp[app] }

// mount serves POST /oidc/backchannel-logout on mux when any app uses
// identity_jwt, and /oidc/backchannel-logout/<app> for each such app (an
// IdP that registers one client per app may be given the app's own URL:
// only that app's issuer and audiences are accepted there). Results are
// counted in counter.
func (id *identity) mount(mux *http.ServeMux, counter *prometheus.CounterVec) {
	if !id.on() {
		return
	}
	backchannel := func(vs ...*oidc.Verifier) http.Handler {
		return oidc.NewBackchannel(oidc.BackchannelConfig{
			Verifiers: vs, Recorder: recorder{id.store}, Ledger: id.ledger,
			Log:     id.log.With("component", "backchannel_logout"),
			Observe: func(result string) { counter.WithLabelValues(result).Inc() },
		})
	}
	mux.Handle(oidc.BackchannelPath, backchannel(id.logout...))
	for app, v := range id.appLogout {
		mux.Handle(oidc.BackchannelPath+"/"+app, backchannel(v))
	}
}

// recorder records logouts in the session store.
type recorder struct{ store logoutStore }

// RecordLogout implements oidc.Recorder.
func (r recorder) RecordLogout(ctx context.Context, c oidc.LogoutClaims, until time.Time) (int, error) {
	n, err := r.store.Logout(ctx, session.Logout{
		Issuer: c.Issuer, Subject: c.Subject, SID: c.SID, JTI: c.JTI,
		At: c.IssuedAt, JTIUntil: c.UseBy, Until: until,
	})
	switch {
	case errors.Is(err, session.ErrReplay):
		return 0, fmt.Errorf("%w: %w", oidc.ErrReplay, err)
	case authz.IsTransient(err):
		return 0, fmt.Errorf("%w: %w", oidc.ErrUnavailable, err)
	}
	return n, err
}

// reload replaces the ledger with the store's logouts; on failure the
// ledger keeps what it holds and the next reload tries again.
func (id *identity) reload(ctx context.Context) {
	if !id.on() {
		return
	}
	id.reloadMu.Lock()
	defer id.reloadMu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	los, err := id.store.Logouts(ctx, time.Now())
	if err != nil {
		id.log.Warn("back-channel logouts not reloaded", "err", err)
		return
	}
	all := make([]oidc.Logout, len(los))
	for i, lo := range los {
		all[i] = oidc.Logout{Issuer: lo.Issuer, Subject: lo.Subject, SID: lo.SID, At: lo.At, Until: lo.Until}
	}
	id.ledger.Replace(all)
}

// Invalidate implements cache.Invalidator: a logout another replica
// recorded joins the ledger.
func (id *identity) Invalidate(ev notify.Event) {
	if ev.Kind != notify.KindLogout {
		return
	}
	id.ledger.Add(oidc.Logout{Issuer: ev.Issuer, Subject: ev.Subject, SID: ev.SID,
		At: time.UnixMicro(ev.At).UTC(), Until: time.UnixMicro(ev.Until).UTC()})
}

// Purge implements cache.Invalidator: events may have been missed, so the
// ledger is read again.
func (id *identity) Purge() { id.reload(context.Background()) }

// ledgerReload is how often the ledger is read again anyway (the fallback
// without a change feed) and swept.
const ledgerReload = 30 * time.Second

// run fetches the issuers' keys, then keeps the ledger: read at start,
// then every ledgerReload, swept.
func (id *identity) run(ctx context.Context) {
	if !id.on() {
		return
	}
	for _, ks := range id.keySets {
		go func() {
			if err := ks.Prefetch(ctx); err != nil && ctx.Err() == nil {
				id.log.Warn("identity_jwt: the issuer's keys could not be fetched yet; tokens get 503 until they can", "err", err)
			}
		}()
	}
	id.reload(ctx)
	every(ctx, ledgerReload, func(ctx context.Context) {
		id.reload(ctx)
		id.ledger.Sweep()
	})
}
