package authz_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/extauthz/extauthz/pkg/authz"
)

func TestNormalizeEmail(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		bad      bool
	}{
		{in: "alice@example.com", want: "alice@example.com"},
		{in: "  Alice@Example.COM\t", want: "alice@example.com"},
		// Invariant 12: no compatibility folding. Look-alikes stay different
		// people (kept as sent, after NFC) or are refused; never folded into
		// someone else's address.
		{in: "ａｌｉｃｅ@example.com", want: "ａｌｉｃｅ@example.com"},
		{in: "ﬁnance@example.com", want: "ﬁnance@example.com"},
		{in: "ⓐlice@example.com", bad: true},
		{in: "\u0430lice@example.com", want: "\u0430lice@example.com"}, // Cyrillic а
		{in: "bob@examplｅ.com", bad: true},
		{in: "bob@ｅxample.com", bad: true},
		{in: "al\u200bice@example.com", bad: true},
		{in: "alice@example.com\u3000", bad: true},
		{in: "\u00a0alice@example.com", bad: true},
		// Only ASCII letters are lower-cased; a non-ASCII local part is
		// matched exactly after NFC.
		{in: "JOSÉ@Example.com", want: "josÉ@example.com"},
		{in: "jose\u0301@example.com", want: "jos\u00e9@example.com"},
		// Domains: IDNA (RFC 5891), one canonical form (Unicode) for both
		// spellings of an internationalised domain.
		{in: "a@xn--exmple-cua.com", want: "a@exämple.com"},
		{in: "a@EXÄMPLE.com", want: "a@exämple.com"},
		{in: "a@xn--zz.com", bad: true},
		{in: "a@пример.рф", want: "a@пример.рф"},
		{in: "a_b%c@example.com", want: "a_b%c@example.com"}, // % and _ are literal
		{in: "o'brien+tag@sub.example.co.uk", want: "o'brien+tag@sub.example.co.uk"},
		{in: "josé@exämple.com", want: "josé@exämple.com"},
		{in: "   ", want: ""},
		{in: "", want: ""},
		{in: "plain", bad: true},
		{in: "@example.com", bad: true},
		{in: "alice@", bad: true},
		{in: "a..b@example.com", bad: true},
		{in: ".a@example.com", bad: true},
		{in: "a.@example.com", bad: true},
		{in: "a b@example.com", bad: true},
		{in: "a@exa mple.com", bad: true},
		{in: "a@-example.com", bad: true},
		{in: "a@example-.com", bad: true},
		{in: "a@example..com", bad: true},
		{in: "a@b@example.com", bad: true},
		{in: "a\r\nx@example.com", bad: true},
		{in: "a@example.com\x00", bad: true},
		{in: "\xff@example.com", bad: true},
		{in: strings.Repeat("a", 65) + "@example.com", bad: true},
		{in: "a@" + strings.Repeat("b", 64) + ".com", bad: true},
		{in: "a@" + strings.Repeat("b.", 130) + "com", bad: true},
	} {
		got, err := authz.NormalizeEmail(tc.in)
		if tc.bad {
			if err == nil {
				t.Errorf("NormalizeEmail(%q) = %q, want error", tc.in, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("NormalizeEmail(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

// Two spellings that differ only by compatibility characters are two
// identities, whichever reaches the service first.
func TestLookalikesAreDifferentPeople(t *testing.T) {
	for _, pair := range [][2]string{
		{"finance@example.com", "ﬁnance@example.com"},
		{"alice@example.com", "ａｌｉｃｅ@example.com"},
		{"alice@example.com", "\u0430lice@example.com"},
		{"x2@example.com", "x²@example.com"},
	} {
		a, errA := authz.NormalizeEmail(pair[0])
		b, errB := authz.NormalizeEmail(pair[1])
		if errA != nil {
			t.Fatalf("%q: %v", pair[0], errA)
		}
		if errB == nil && a == b {
			t.Errorf("%q and %q are one identity %q", pair[0], pair[1], a)
		}
	}
}

func TestNormalizeEmailIsLinear(t *testing.T) {
	// A classic backtracking-regex killer must be rejected quickly and
	// without trouble (no timing assertion: it simply has to return).
	in := strings.Repeat("a.", 5000) + "@" + strings.Repeat("a-", 5000)
	if _, err := authz.NormalizeEmail(in); err == nil {
		t.Fatal("accepted a 20 kB address")
	}
}

func TestParseIdentity(t *testing.T) {
	p := authz.DefaultPolicy("default")
	for _, tc := range []struct {
		name  string
		h     authz.Headers
		email string
		err   error
	}{
		{"absent", authz.Headers{}, "", nil},
		{"joined duplicates agree", authz.Headers{"x-auth-request-email": {"a@x.io,A@X.IO"}}, "a@x.io", nil},
		{"joined duplicates differ", authz.Headers{"x-auth-request-email": {"a@x.io,b@x.io"}}, "", authz.ErrIdentityAmbiguous},
		{"two lines differ", authz.Headers{"x-auth-request-email": {"a@x.io", "b@x.io"}}, "", authz.ErrIdentityAmbiguous},
		{"blank plus value", authz.Headers{"x-auth-request-email": {" ", "a@x.io"}}, "a@x.io", nil},
		{"user id that is an email", authz.Headers{"x-auth-request-user": {"A@x.io"}}, "a@x.io", nil},
		{"bare id, no domain", authz.Headers{"x-auth-request-user": {"alice"}}, "", authz.ErrNoEmailDomain},
		{"user id with control char", authz.Headers{"x-auth-request-email": {"a@x.io"}, "x-auth-request-user": {"u\x7f"}}, "", authz.ErrIdentityMalformed},
		{"many values", authz.Headers{"x-auth-request-email": {strings.Repeat("a@x.io,", 20)}}, "", authz.ErrIdentityAmbiguous},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, err := authz.ParseIdentity(tc.h, &p)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err = %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil || id.Email != tc.email {
				t.Fatalf("got %+v, %v", id, err)
			}
		})
	}
}

func TestNormalizePath(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"/a/b?x=1", "/a/b", true},
		{"/a/./b/../c", "/a/c", true},
		{"/../../etc", "/etc", true},
		{"/a//b", "/a/b", true},
		{"/a/b/", "/a/b/", true},
		{"/%2e%2e/x", "/x", true},
		{"/a%2Fb", "/a/b", true},
		{"/bad%zz", "", false},
		{"/nul%00", "", false},
		{"relative", "", false},
		{"/back\\slash", "", false},
	} {
		got, ok := authz.NormalizePath(tc.in)
		if ok != tc.ok || got != tc.want {
			t.Errorf("NormalizePath(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}
