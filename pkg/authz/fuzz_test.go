package authz_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/extauthz/extauthz/pkg/authz"
)

func FuzzNormalizeEmail(f *testing.F) {
	for _, s := range []string{"alice@example.com", " A@B.C ", "a..b@x", "ａ@ｂ.ｃ", "ﬁ@x.io", "a@xn--exmple-cua.com", "\xff@x.io", "a@b@c", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := authz.NormalizeEmail(s)
		if err != nil {
			return
		}
		if got == "" {
			if strings.TrimSpace(s) != "" {
				t.Fatalf("%q normalised to empty", s)
			}
			return
		}
		if !utf8.ValidString(got) || strings.ContainsAny(got, " \r\n\t,;") || strings.Count(got, "@") != 1 {
			t.Fatalf("%q normalised to unsafe %q", s, got)
		}
		if again, err := authz.NormalizeEmail(got); err != nil || again != got {
			t.Fatalf("not idempotent: %q -> %q -> %q, %v", s, got, again, err)
		}
		// No compatibility folding of the local part: it is the input's,
		// trimmed, NFC, ASCII letters lower-cased, NFC again (invariant 12).
		in := norm.NFC.String(strings.Trim(s, " \t"))
		wantLocal := norm.NFC.String(strings.Map(func(r rune) rune {
			if r >= 'A' && r <= 'Z' {
				return r + ('a' - 'A')
			}
			return r
		}, in[:strings.LastIndexByte(in, '@')]))
		if local := got[:strings.LastIndexByte(got, '@')]; local != wantLocal {
			t.Fatalf("%q: local part %q, want %q", s, local, wantLocal)
		}
	})
}

func FuzzNormalizePath(f *testing.F) {
	for _, s := range []string{"/a/b", "/%2e%2e/x", "/a/../../b", "//x", "/x?y", "/%zz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := authz.NormalizePath(s)
		if !ok {
			return
		}
		if !strings.HasPrefix(got, "/") || strings.Contains(got, "//") {
			t.Fatalf("%q -> %q", s, got)
		}
		for _, seg := range strings.Split(got, "/") {
			if seg == "." || seg == ".." {
				t.Fatalf("%q -> %q keeps a dot segment", s, got)
			}
		}
	})
}
