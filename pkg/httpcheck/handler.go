package httpcheck

import (
	"net/http"
	"time"

	"github.com/extauthz/extauthz/pkg/authz"
)

// The endpoint paths; the app variants append "/<app>".
const (
	PathCheck      = "/check"
	PathNginxCheck = "/nginx/check"
)

// Handler serves the check endpoints over a Decider.
type Handler struct {
	d    authz.Decider
	opts Options
}

// NewHandler returns a Handler deciding with d.
func NewHandler(d authz.Decider, opts Options) *Handler {
	return &Handler{d: d, opts: opts}
}

// Mount adds /check, /check/{app}, /nginx/check and /nginx/check/{app} to
// mux, for every method (Traefik and Caddy send GET, nginx the original
// request's method).
func (h *Handler) Mount(mux *http.ServeMux) {
	mux.Handle(PathCheck, h.Endpoint(Forward))
	mux.Handle(PathCheck+"/{app}", h.Endpoint(Forward))
	mux.Handle(PathNginxCheck, h.Endpoint(Nginx))
	mux.Handle(PathNginxCheck+"/{app}", h.Endpoint(Nginx))
}

// Endpoint returns the handler of one mode. The app is the request's
// path value "app" when the route has one.
func (h *Handler) Endpoint(mode Mode) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.check(w, r, mode)
	})
}

func (h *Handler) check(w http.ResponseWriter, r *http.Request, mode Mode) {
	var start time.Time
	if h.opts.Observe != nil {
		start = time.Now()
	}
	ctx := r.Context()
	in, err := h.opts.ToInput(r, r.PathValue("app"), mode)
	var d authz.Decision
	if err != nil {
		in = authz.Input{App: in.App}
		d = authz.Denial(in.App, http.StatusBadRequest, authz.ReasonRequestInvalid, authz.ReasonHeaderFor(h.d, in.App))
	} else {
		d = h.d.Decide(ctx, in)
	}
	if h.opts.Observe != nil {
		h.opts.Observe(ctx, in, d, time.Since(start))
	}
	FromDecision(d, in, mode, h.opts).Write(w)
}
