package httpcheck

import (
	"github.com/extauthz/extauthz/pkg/authz"
)

// Defaults for Options (authz.HeaderLimits). nginx's default
// large_client_header_buffers allow 4 × 8 KiB per header line and
// Traefik/Caddy allow 1 MiB in all; the limits sit above what a browser
// sends.
const (
	DefaultMaxHeaderBytes = authz.DefaultMaxHeaderBytes
	DefaultMaxHeaders     = authz.DefaultMaxHeaders
	// DefaultNginxSetCookies is how many X-Extauthz-Set-Cookie-<n> headers
	// the nginx endpoints may send; deploy/nginx maps exactly this many.
	DefaultNginxSetCookies = 4
)

// Options configures the translation and the handler. The zero value is
// usable: zero limits mean the defaults.
type Options struct {
	// MaxHeaderBytes bounds the summed length of header names and values.
	MaxHeaderBytes int
	// MaxHeaders bounds the number of header lines.
	MaxHeaders int
	// NginxOrigin and ForwardOrigin name the headers the nginx endpoints
	// and the /check endpoints read the original request from; a zero
	// Origin means the package default (NginxOrigin, ForwardOrigin).
	NginxOrigin   Origin
	ForwardOrigin Origin

	// NginxSetCookies is the number of numbered Set-Cookie headers the nginx
	// config maps (X-Extauthz-Set-Cookie-1 … -N).
	NginxSetCookies int

	// Observe, when set, is called once per check (see authz.Observer).
	Observe authz.Observer
}

// limits are the header limits, defaults filled in by their methods.
func (o Options) limits() authz.HeaderLimits {
	return authz.HeaderLimits{Count: o.MaxHeaders, Bytes: o.MaxHeaderBytes}
}

func (o Options) nginxSetCookies() int {
	if o.NginxSetCookies > 0 {
		return o.NginxSetCookies
	}
	return DefaultNginxSetCookies
}

// origin returns the headers the endpoints of mode read.
func (o Options) origin(mode Mode) Origin {
	if mode == Nginx {
		if o.NginxOrigin != (Origin{}) {
			return o.NginxOrigin
		}
		return NginxOrigin
	}
	if o.ForwardOrigin != (Origin{}) {
		return o.ForwardOrigin
	}
	return ForwardOrigin
}
