package tracing_test

import (
	"context"
	"testing"

	"github.com/extauthz/extauthz/pkg/authz"
	"github.com/extauthz/extauthz/pkg/tracing"
)

// What is not a parent is none: the check then starts its own trace.
func TestParentRefusesMalformedContext(t *testing.T) {
	const tid, sid = "80f198ee56343ba864fe8b2a57d3eff7", "e457b5a2e4d86bd1"
	for _, h := range []authz.Headers{
		{},
		{"traceparent": {"00-" + tid + "-" + sid}},                              // no flags
		{"traceparent": {"00-00000000000000000000000000000000-" + sid + "-01"}}, // zero trace id
		{"b3": {"1"}},                                       // a sampling state alone
		{"b3": {tid + "-" + sid + "-x"}},                    // unknown sampling state
		{"b3": {tid + "-" + sid + "-1-nothex"}},             // bad parent span id
		{"b3": {tid + "-" + sid + "-1-" + sid + "-9"}},      // too many fields
		{"b3": {"80F198EE56343BA864FE8B2A57D3EFF7-" + sid}}, // B3 is lower-hex
		{"b3": {tid + "-" + sid, tid + "-" + sid}},          // sent twice
		{"x-b3-traceid": {tid}},                             // no span id
		{"x-b3-traceid": {tid}, "x-b3-spanid": {sid}, "x-b3-sampled": {"maybe"}},
		{"x-b3-traceid": {tid[:20]}, "x-b3-spanid": {sid}},
	} {
		if sc := tracing.Parent(context.Background(), h); sc.IsValid() {
			t.Errorf("Parent(%v) = %v, want none", h, sc)
		}
	}
}

// Sampling states map onto the sampled flag; deferred (absent) is not
// sampled, so the parent-based default sampler records nothing.
func TestParentSampling(t *testing.T) {
	const tid, sid = "80f198ee56343ba864fe8b2a57d3eff7", "e457b5a2e4d86bd1"
	for _, tc := range []struct {
		h       authz.Headers
		sampled bool
	}{
		{authz.Headers{"b3": {tid + "-" + sid + "-1"}}, true},
		{authz.Headers{"b3": {tid + "-" + sid + "-d"}}, true},
		{authz.Headers{"b3": {tid + "-" + sid + "-0"}}, false},
		{authz.Headers{"b3": {tid + "-" + sid}}, false},
		{authz.Headers{"x-b3-traceid": {tid}, "x-b3-spanid": {sid}, "x-b3-sampled": {"true"}}, true},
		{authz.Headers{"x-b3-traceid": {tid}, "x-b3-spanid": {sid}, "x-b3-sampled": {"0"}}, false},
		{authz.Headers{"x-b3-traceid": {tid}, "x-b3-spanid": {sid}}, false},
		{authz.Headers{"traceparent": {"00-" + tid + "-" + sid + "-01"}}, true},
		{authz.Headers{"traceparent": {"00-" + tid + "-" + sid + "-00"}}, false},
	} {
		sc := tracing.Parent(context.Background(), tc.h)
		if !sc.IsValid() || !sc.IsRemote() || sc.IsSampled() != tc.sampled {
			t.Errorf("Parent(%v) = %v (sampled %v), want a remote parent, sampled %v", tc.h, sc, sc.IsSampled(), tc.sampled)
		}
	}
}
