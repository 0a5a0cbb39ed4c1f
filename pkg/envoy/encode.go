package envoy

import (
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protowire"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"

	"github.com/extauthz/extauthz/pkg/authz"
)

// EncodeDecision serializes d as the CheckResponse FromDecision would
// build, straight from the decision: no generated messages, one buffer of
// exactly the response's size. FuzzEncodeDecision holds the two to the
// same bytes' meaning (proto.Equal after unmarshalling).
func EncodeDecision(d authz.Decision, o Options) []byte {
	if !safeDecision(&d) {
		d = authz.Unrenderable(d, safeName)
	}
	e := encoder{d: &d, o: o}
	// The response is status plus one of ok_response or denied_response;
	// the latter's size is needed for the buffer and for its own length
	// prefix, so it is computed once here.
	inner, num := e.deniedSize(), protowire.Number(numResponseDenied)
	if d.Allow {
		inner, num = e.okSize(), numResponseOK
	}
	n := fieldSize(numResponseStatus, e.statusSize()) + fieldSize(num, inner)
	return e.append(make([]byte, 0, n), inner)
}

// Field numbers of the CheckResponse fields written.
const (
	numResponseStatus      = 1 // CheckResponse.status (google.rpc.Status)
	numResponseDenied      = 2 // CheckResponse.denied_response
	numResponseOK          = 3 // CheckResponse.ok_response
	numStatusCode          = 1 // google.rpc.Status.code; HttpStatus.code
	numOKHeaders           = 2 // OkHttpResponse.headers
	numOKHeadersToRemove   = 5 // OkHttpResponse.headers_to_remove
	numOKResponseHeaders   = 6 // OkHttpResponse.response_headers_to_add
	numDeniedStatus        = 1 // DeniedHttpResponse.status
	numDeniedHeaders       = 2 // DeniedHttpResponse.headers
	numDeniedBody          = 3 // DeniedHttpResponse.body
	numOptionHeader        = 1 // HeaderValueOption.header
	numOptionAppendAction  = 3 // HeaderValueOption.append_action
	numHeaderValueKeyOut   = 1 // HeaderValue.key
	numHeaderValueValueOut = 2 // HeaderValue.value
	bytesType              = protowire.BytesType
	varintType             = protowire.VarintType
	overwriteAction        = uint64(corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD)
	permissionDenied       = uint64(codes.PermissionDenied)
	unauthenticated        = uint64(codes.Unauthenticated)
	forbidden              = uint64(typev3.StatusCode_Forbidden)
)

type encoder struct {
	d *authz.Decision
	o Options
}

// rpcCode and httpStatus mirror denyResponse.
func (e *encoder) rpcCode() uint64 {
	if e.d.Allow {
		return 0
	}
	if e.d.Status == 401 {
		return unauthenticated
	}
	return permissionDenied
}

func (e *encoder) httpStatus() uint64 {
	if e.d.Status < 200 || e.d.Status > 599 {
		return forbidden
	}
	return uint64(e.d.Status)
}

// append writes the response; inner is the size of its ok_response or
// denied_response.
func (e *encoder) append(b []byte, inner int) []byte {
	b = appendMessageHeader(b, numResponseStatus, e.statusSize())
	if c := e.rpcCode(); c != 0 {
		b = appendVarint(b, numStatusCode, c)
	}
	if e.d.Allow {
		b = appendMessageHeader(b, numResponseOK, inner)
		for _, h := range e.d.UpstreamSet {
			b = appendOption(b, numOKHeaders, h.Name, h.Value, overwriteAction)
		}
		for _, r := range e.d.UpstreamRemove {
			b = protowire.AppendTag(b, numOKHeadersToRemove, bytesType)
			b = protowire.AppendString(b, r)
		}
		return e.appendBrowserHeaders(b, numOKResponseHeaders)
	}
	b = appendMessageHeader(b, numResponseDenied, inner)
	b = appendMessageHeader(b, numDeniedStatus, varintSize(numStatusCode, e.httpStatus()))
	b = appendVarint(b, numStatusCode, e.httpStatus())
	b = e.appendBrowserHeaders(b, numDeniedHeaders)
	if e.d.Body != "" {
		b = protowire.AppendTag(b, numDeniedBody, bytesType)
		b = protowire.AppendString(b, e.d.Body)
	}
	return b
}

func (e *encoder) statusSize() int { return varintSize(numStatusCode, e.rpcCode()) }

func (e *encoder) okSize() int {
	n := 0
	for _, h := range e.d.UpstreamSet {
		n += fieldSize(numOKHeaders, optionSize(h.Name, h.Value, overwriteAction))
	}
	for _, r := range e.d.UpstreamRemove {
		n += protowire.SizeTag(numOKHeadersToRemove) + protowire.SizeBytes(len(r))
	}
	return n + e.browserHeadersSize(numOKResponseHeaders)
}

func (e *encoder) deniedSize() int {
	n := fieldSize(numDeniedStatus, varintSize(numStatusCode, e.httpStatus()))
	n += e.browserHeadersSize(numDeniedHeaders)
	if e.d.Body != "" {
		n += protowire.SizeTag(numDeniedBody) + protowire.SizeBytes(len(e.d.Body))
	}
	return n
}

// browserHeadersSize and appendBrowserHeaders mirror addBrowserHeaders.
func (e *encoder) browserHeadersSize(num protowire.Number) int {
	n := 0
	for _, c := range e.d.SetCookies {
		n += fieldSize(num, optionSize(setCookie, c, uint64(e.o.SetCookieAction)))
	}
	for _, h := range e.d.ResponseHeaders {
		n += fieldSize(num, optionSize(h.Name, h.Value, overwriteAction))
	}
	return n
}

func (e *encoder) appendBrowserHeaders(b []byte, num protowire.Number) []byte {
	for _, c := range e.d.SetCookies {
		b = appendOption(b, num, setCookie, c, uint64(e.o.SetCookieAction))
	}
	for _, h := range e.d.ResponseHeaders {
		b = appendOption(b, num, h.Name, h.Value, overwriteAction)
	}
	return b
}

// A HeaderValueOption: header {key, value}, append_action.
func optionSize(key, value string, action uint64) int {
	return fieldSize(numOptionHeader, headerValueSize(key, value)) + varintSize(numOptionAppendAction, action)
}

func appendOption(b []byte, num protowire.Number, key, value string, action uint64) []byte {
	b = appendMessageHeader(b, num, optionSize(key, value, action))
	b = appendMessageHeader(b, numOptionHeader, headerValueSize(key, value))
	b = appendString(b, numHeaderValueKeyOut, key)
	b = appendString(b, numHeaderValueValueOut, value)
	return appendVarint(b, numOptionAppendAction, action)
}

func headerValueSize(key, value string) int {
	return stringSize(numHeaderValueKeyOut, key) + stringSize(numHeaderValueValueOut, value)
}

// Scalars follow proto3's implicit presence: a zero value is not written.
func stringSize(num protowire.Number, s string) int {
	if s == "" {
		return 0
	}
	return protowire.SizeTag(num) + protowire.SizeBytes(len(s))
}

func appendString(b []byte, num protowire.Number, s string) []byte {
	if s == "" {
		return b
	}
	b = protowire.AppendTag(b, num, bytesType)
	return protowire.AppendString(b, s)
}

func varintSize(num protowire.Number, v uint64) int {
	if v == 0 {
		return 0
	}
	return protowire.SizeTag(num) + protowire.SizeVarint(v)
}

func appendVarint(b []byte, num protowire.Number, v uint64) []byte {
	if v == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, varintType)
	return protowire.AppendVarint(b, v)
}

// A message field is always written, empty or not (it is set).
func fieldSize(num protowire.Number, n int) int {
	return protowire.SizeTag(num) + protowire.SizeBytes(n)
}

func appendMessageHeader(b []byte, num protowire.Number, n int) []byte {
	b = protowire.AppendTag(b, num, bytesType)
	return protowire.AppendVarint(b, uint64(n))
}
