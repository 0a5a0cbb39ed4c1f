package server

import (
	"net/http"

	"github.com/extauthz/extauthz/pkg/config"
	"github.com/extauthz/extauthz/pkg/httpcheck"
	"github.com/extauthz/extauthz/pkg/metrics"
)

// listenHTTPCheck serves the HTTP check endpoints for nginx auth_request,
// Traefik ForwardAuth and Caddy forward_auth (/check, /check/<app>,
// /nginx/check, /nginx/check/<app>) on their own listener, check_addr,
// deciding with the same engine as the gRPC front end. Nothing else is
// served there, and the check is never on the ops listener: it trusts
// identity headers and issues sessions, so only the proxy may reach it.
// It returns nil when check_addr is empty (the check is off).
func (s *Server) listenHTTPCheck() (*httpServer, error) {
	if s.cfg.CheckAddr == "" {
		return nil, nil
	}
	mux := http.NewServeMux()
	httpcheck.NewHandler(s.decider(metrics.FrontendHTTP), httpcheck.Options{
		NginxOrigin:   origin(s.cfg.HTTPCheck.Nginx),
		ForwardOrigin: origin(s.cfg.HTTPCheck.Forward),
		Observe:       s.observe(metrics.FrontendHTTP),
	}).Mount(mux)
	s.identity.mount(mux, s.metrics.BackchannelLogouts) // POST /oidc/backchannel-logout, with identity_jwt on
	return listenHTTP("check_addr", s.cfg.CheckAddr, s.cfg.HTTPServer, mux, s.log)
}

// origin converts the configured headers of one endpoint family.
func origin(o config.Origin) httpcheck.Origin {
	return httpcheck.Origin{Method: o.MethodHeader, URI: o.URIHeader, Host: o.HostHeader, Proto: o.ProtoHeader}
}
