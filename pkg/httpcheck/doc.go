// Package httpcheck is extauthz's HTTP check front end, for proxies that ask
// an HTTP service whether to let a request through: nginx (auth_request),
// Traefik (ForwardAuth) and Caddy (forward_auth). It runs the same
// authz.Decide as the gRPC front end (pkg/envoy) and does nothing but
// translate between HTTP and pkg/authz.
//
// The contract:
//
//   - Endpoints (Handler.Mount): /check and /check/<app> answer with the
//     decision's real status (200, 302, 400, 401, 403, 500, 503), headers and
//     body: Traefik and Caddy copy a non-2xx auth response to the client.
//     /nginx/check and /nginx/check/<app> speak nginx auth_request, which
//     understands only 2xx, 401 and 403: every other denial becomes a 401
//     (302, 400) or a 403 (500, 503), and every denial carries
//     X-Extauthz-Status with the real status so that the shipped nginx config
//     (deploy/nginx) maps it back with error_page.
//
//   - The app comes from the path suffix, else the query parameter "app",
//     else the X-Extauthz-App header; when none names one, the engine picks
//     the app whose hosts match the original host read below (the same
//     rule as for Envoy's :authority, authz.Engine.AppFor), else the
//     default app. The proxy must set (or clear) the header: the check
//     request carries the client's headers, so a client could otherwise
//     choose the policy. The host is read only from the endpoint's trusted
//     host header, never from a forwarding header a client can send.
//
//   - ToInput reads the original request only from the headers the
//     endpoint's own proxy sets (Options.NginxOrigin, Options.ForwardOrigin;
//     invariant 14): the nginx endpoints read the method from
//     X-Original-Method (else the check request's), the target from
//     X-Original-URI, the host from Host and the scheme from
//     X-Forwarded-Proto, all set by deploy/nginx on the auth subrequest;
//     /check reads X-Forwarded-Method, -Uri, -Host and -Proto, which Traefik
//     and Caddy set themselves, overwriting the client's. A forwarding header
//     of the other family is ignored even when a client sends it (Traefik
//     and Caddy pass X-Original-URI through untouched). Without the target
//     header the path is "/"; without the host header, the check request's
//     Host; without the scheme header, the check connection's.
//     Each of those headers may appear at most once. Every other header of the check
//     request is the client's (the proxies copy them), so identity headers
//     and cookies are read from them exactly as pkg/envoy reads Envoy's:
//     names lower-cased, one value per header line, cookies read with
//     cookie.ParseLimit (each line a separate input, pairs split on ";"
//     only). A request with more than Options.MaxHeaders header lines,
//     Options.MaxHeaderBytes bytes of names and values, or cookie.MaxCookies
//     cookie pairs is answered 400 request_invalid.
//
//   - FromDecision renders a decision. Allow: 200; each upstream header the
//     decision sets (the profile header, e.g. X-Profile-Id) as a response
//     header for the proxy to copy onto the upstream request; when the
//     request carried cookies or the decision rewrites them,
//     X-Extauthz-Cookie with the Cookie header the upstream must see (the
//     proxy sets the upstream Cookie to it; empty means "none", so nginx's
//     proxy_set_header drops it) -- on /check also as Cookie itself when not
//     empty, for Traefik, whose authResponseHeaders copies a header under
//     its own name and removes the upstream's copy when the answer lacks
//     it; then the Set-Cookie lines and the
//     decision's response headers. Deny: the status as above, the Set-Cookie
//     lines, the response headers (Location, Retry-After, Clear-Site-Data,
//     Cache-Control, X-Extauthz-Reason) and the body. On the nginx endpoints
//     every Set-Cookie is also sent as X-Extauthz-Set-Cookie-1 … -N
//     (Options.NginxSetCookies, default 4), because nginx 1.22's
//     $upstream_http_set_cookie holds only the first; a decision with more
//     Set-Cookie lines than that is answered 500 misconfigured instead of
//     losing some (set the app's max_set_cookies to N for nginx). On /check a
//     relative Location is made absolute from the forwarded scheme and host,
//     because Traefik resolves it against the check URL.
//
//   - A decision carrying a header that cannot be sent (CR, LF or NUL, an
//     empty name) becomes a fail-closed 500 misconfigured denial.
//
//   - Options.Observe, when set, sees every input, decision and its duration
//     (metrics and logs hook in there; the frontend label is "http").
package httpcheck
