package main

import (
	"net/http"

	"github.com/extauthz/extauthz/pkg/httpcheck"
	"github.com/extauthz/extauthz/pkg/metrics"
)

// mountHTTPCheck serves the HTTP check endpoints for nginx auth_request,
// Traefik ForwardAuth and Caddy forward_auth (/check, /check/<app>,
// /nginx/check, /nginx/check/<app>) on the ops listener, deciding with the
// same engine as the gRPC front end. The ops listener already drains on
// shutdown after the gRPC server, so in-flight checks finish.
func (s *service) mountHTTPCheck(mux *http.ServeMux) {
	httpcheck.NewHandler(s.engine, httpcheck.Options{
		Observe: s.observe(metrics.FrontendHTTP),
	}).Mount(mux)
}
