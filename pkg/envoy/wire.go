package envoy

import (
	"errors"
	"unsafe"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/extauthz/extauthz/pkg/authz"
)

// The wire path reads a serialized CheckRequest straight into the source
// that ToInput builds from the generated message, without building that
// message: decoding Envoy's request into generated Go structs (a map
// assignment through reflection per header, a string per field) costs more
// than the whole decision, and the service needs a handful of its fields.
//
// Its contract, checked by FuzzDecodeInput against proto.Unmarshal and
// ToInput: whenever proto.Unmarshal accepts the bytes, DecodeInput accepts
// them and returns the same Input. It may accept bytes proto.Unmarshal
// refuses: it does not look inside the fields it skips, and it leaves
// strings that are not UTF-8 to the decision (which copes with them) rather
// than failing the RPC and handing the request to Envoy's
// failure_mode_allow.

// ErrMalformed is returned by DecodeInput for bytes that are not a
// protobuf message.
var ErrMalformed = errors.New("envoy: malformed CheckRequest")

// Field numbers of the CheckRequest fields the translation reads.
const (
	numCheckAttributes     = 1  // CheckRequest.attributes
	numAttrsRequest        = 4  // AttributeContext.request
	numAttrsContextExts    = 10 // AttributeContext.context_extensions
	numRequestHTTP         = 2  // AttributeContext.Request.http
	numHTTPMethod          = 2  // HttpRequest.method
	numHTTPHeaders         = 3  // HttpRequest.headers
	numHTTPPath            = 4  // HttpRequest.path
	numHTTPHost            = 5  // HttpRequest.host
	numHTTPScheme          = 6  // HttpRequest.scheme
	numHTTPHeaderMap       = 13 // HttpRequest.header_map
	numHeaderMapHeaders    = 1  // HeaderMap.headers
	numHeaderValueKey      = 1  // HeaderValue.key
	numHeaderValueValue    = 2  // HeaderValue.value
	numHeaderValueRawValue = 3  // HeaderValue.raw_value
	numMapEntryKey         = 1  // map entry key
	numMapEntryValue       = 2  // map entry value
)

// linearDedupeLimit is how many headers map entries are deduplicated by
// scanning; beyond it an index is built.
const linearDedupeLimit = 16

// DecodeInput converts a serialized CheckRequest into an Input, like
// ToInput on the unmarshalled message. The Input's strings share b's
// memory: b must never be modified afterwards. It returns ErrMalformed,
// ErrTooManyHeaders, ErrHeadersTooLarge or cookie.ErrTooManyCookies.
func (o Options) DecodeInput(b []byte) (authz.Input, error) {
	src := sources.Get().(*source)
	defer src.release()
	if err := o.decode(b, src); err != nil {
		return authz.Input{}, err
	}
	return o.build(src)
}

// decode fills src from b. On ErrTooManyHeaders src.app is still set when
// b carries it, for the denial.
func (o Options) decode(b []byte, src *source) error {
	d := decoder{src: src, max: o.limits().MaxCount()}
	if !d.message(b, d.checkRequest) {
		return ErrMalformed
	}
	if d.tooMany {
		return ErrTooManyHeaders
	}
	return nil
}

type decoder struct {
	src     *source
	max     int  // header entries allowed (distinct map keys + header_map entries)
	indexed bool // src.idx maps every key of src.mp to its index
	tooMany bool
	// entry is the current map entry or HeaderValue being read.
	key, value, raw string
}

// message walks the fields of one message, calling fn for each
// length-delimited field and skipping every other one. It reports false
// when b is not well-formed or fn refused a field.
func (d *decoder) message(b []byte, fn func(num protowire.Number, v []byte) bool) bool {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return false
		}
		b = b[n:]
		if typ == protowire.BytesType {
			v, m := protowire.ConsumeBytes(b)
			if m < 0 || !fn(num, v) {
				return false
			}
			b = b[m:]
			continue
		}
		m := protowire.ConsumeFieldValue(num, typ, b)
		if m < 0 {
			return false
		}
		b = b[m:]
	}
	return true
}

func (d *decoder) checkRequest(num protowire.Number, v []byte) bool {
	if num == numCheckAttributes {
		return d.message(v, d.attributes)
	}
	return true
}

func (d *decoder) attributes(num protowire.Number, v []byte) bool {
	switch num {
	case numAttrsRequest:
		return d.message(v, d.request)
	case numAttrsContextExts:
		if !d.mapEntry(v) {
			return false
		}
		if d.key == AppKey {
			d.src.app = d.value
		}
	}
	return true
}

func (d *decoder) request(num protowire.Number, v []byte) bool {
	if num == numRequestHTTP {
		return d.message(v, d.http)
	}
	return true
}

func (d *decoder) http(num protowire.Number, v []byte) bool {
	switch num {
	case numHTTPMethod:
		d.src.method = str(v)
	case numHTTPPath:
		d.src.path = str(v)
	case numHTTPHost:
		d.src.host = str(v)
	case numHTTPScheme:
		d.src.scheme = str(v)
	case numHTTPHeaders:
		if !d.mapEntry(v) {
			return false
		}
		d.putHeader(d.key, d.value)
	case numHTTPHeaderMap:
		return d.message(v, d.headerMap)
	}
	return true
}

func (d *decoder) headerMap(num protowire.Number, v []byte) bool {
	if num != numHeaderMapHeaders {
		return true
	}
	d.key, d.value, d.raw = "", "", ""
	if !d.message(v, d.headerValue) {
		return false
	}
	if d.full() {
		return true
	}
	d.src.hm = append(d.src.hm, mapEntry{key: d.key, value: d.value, raw: d.raw})
	return true
}

func (d *decoder) headerValue(num protowire.Number, v []byte) bool {
	switch num {
	case numHeaderValueKey:
		d.key = str(v)
	case numHeaderValueValue:
		d.value = str(v)
	case numHeaderValueRawValue:
		d.raw = str(v)
	}
	return true
}

// mapEntry reads one map<string, string> entry into d.key and d.value; a
// missing key or value is "", as for the generated code.
func (d *decoder) mapEntry(v []byte) bool {
	d.key, d.value = "", ""
	return d.message(v, d.mapField)
}

func (d *decoder) mapField(num protowire.Number, v []byte) bool {
	switch num {
	case numMapEntryKey:
		d.key = str(v)
	case numMapEntryValue:
		d.value = str(v)
	}
	return true
}

// putHeader sets a headers map entry: a key seen before takes the new
// value, as a map would.
func (d *decoder) putHeader(k, v string) {
	mp := d.src.mp
	if d.indexed {
		if i, ok := d.src.idx[k]; ok {
			mp[i].value = v
			return
		}
	} else {
		for i := range mp {
			if mp[i].key == k {
				mp[i].value = v
				return
			}
		}
	}
	if d.full() {
		return
	}
	d.src.mp = append(mp, field{k, v})
	switch {
	case d.indexed:
		d.src.idx[k] = len(d.src.mp) - 1
	case len(d.src.mp) > linearDedupeLimit:
		if d.src.idx == nil {
			d.src.idx = make(map[string]int, 4*linearDedupeLimit)
		}
		for i, f := range d.src.mp {
			d.src.idx[f.key] = i
		}
		d.indexed = true
	}
}

// full reports (and remembers) that one more header would exceed the limit;
// the rest of the request is still walked, so that a malformed request is
// refused as malformed.
func (d *decoder) full() bool {
	if !d.tooMany && len(d.src.mp)+len(d.src.hm) >= d.max {
		d.tooMany = true
	}
	return d.tooMany
}

// str views b as a string without copying. Safe because the decoder's
// caller owns the request bytes and never writes them again (see
// DecodeInput).
func str(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}
