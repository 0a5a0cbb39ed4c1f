package cookie

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestTokenRoundTrip(t *testing.T) {
	tok, err := NewToken()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(tok), TokenPrefix) || len(tok) != encodedLen {
		t.Fatalf("token %q", tok)
	}
	got, err := ParseToken(string(tok))
	if err != nil || got != tok {
		t.Fatalf("ParseToken(%q) = %q, %v", tok, got, err)
	}
	if !tok.Hash().Equal(got.Hash()) || tok.Hash().IsZero() {
		t.Fatal("hash mismatch")
	}
	other, _ := NewToken()
	if other == tok || other.Hash().Equal(tok.Hash()) {
		t.Fatal("two tokens collide")
	}
}

func TestNewTokenFailsWithoutEntropy(t *testing.T) {
	if _, err := newTokenFrom(bytes.NewReader(nil)); err == nil {
		t.Fatal("token minted from an empty reader")
	}
}

func TestParseTokenRejects(t *testing.T) {
	good, _ := newTokenFrom(bytes.NewReader(bytes.Repeat([]byte{7}, 32)))
	for _, s := range []string{
		"", "v1.", "garbage", "v2." + string(good)[3:], string(good) + "A", string(good)[:len(good)-1],
		strings.Replace(string(good), "B", "+", 1), string(good)[:len(good)-1] + "B", // non-canonical padding bits
		"v1." + strings.Repeat("=", 43),
	} {
		if _, err := ParseToken(s); !errors.Is(err, ErrMalformedToken) {
			t.Errorf("ParseToken(%q) accepted", s)
		}
	}
}

func TestParse(t *testing.T) {
	got := Parse(`a=1; b="2"`, "c=3,d=4", "  ; ;=x; bad name=5; e=; f", "g=7;h=8")
	want := []Cookie{{"a", "1"}, {"b", "2"}, {"c", "3"}, {"d", "4"}, {"e", ""}, {"g", "7"}, {"h", "8"}}
	if len(got) != len(want) {
		t.Fatalf("Parse = %v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("[%d] = %v, want %v", i, got[i], want[i])
		}
	}
	if n := len(Parse(strings.Repeat("a=b;", 10000))); n != maxCookies {
		t.Errorf("Parse kept %d pairs, want the cap %d", n, maxCookies)
	}
	if Format(got, func(n string) bool { return n != "a" && n != "c" }) != "a=1; c=3" {
		t.Errorf("Format = %q", Format(got, func(n string) bool { return n != "a" && n != "c" }))
	}
}

func TestSetCookie(t *testing.T) {
	for _, tc := range []struct {
		c    SetCookie
		want string
		bad  bool
	}{
		{c: SetCookie{Name: "s", Value: "v", MaxAge: time.Hour, Secure: true, HttpOnly: true, SameSite: SameSiteLax},
			want: "s=v; Path=/; Max-Age=3600; Secure; HttpOnly; SameSite=Lax"},
		{c: SetCookie{Name: "s", Domain: ".example.com", Path: "/app", Expire: true},
			want: "s=; Path=/app; Domain=.example.com; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT"},
		{c: SetCookie{Name: "__Host-s", Value: "v", Secure: true}, want: "__Host-s=v; Path=/; Secure"},
		{c: SetCookie{Name: "__Host-s", Value: "v", Secure: true, Domain: "x.io"}, bad: true},
		{c: SetCookie{Name: "__Host-s", Value: "v"}, bad: true},
		{c: SetCookie{Name: "__Secure-s", Value: "v"}, bad: true},
		{c: SetCookie{Name: "s", Value: "v\r\nSet-Cookie: x=y"}, bad: true},
		{c: SetCookie{Name: "s", Value: "v; Domain=evil"}, bad: true},
		{c: SetCookie{Name: "s\n", Value: "v"}, bad: true},
		{c: SetCookie{Name: "s", Value: "v", Path: "/a\r\n"}, bad: true},
		{c: SetCookie{Name: "s", Value: "v", Domain: "a;b"}, bad: true},
		{c: SetCookie{Name: "s", Value: "v", Path: "nope"}, bad: true},
		{c: SetCookie{Name: "s", Value: "v", SameSite: "Sometimes"}, bad: true},
		{c: SetCookie{Name: "", Value: "v"}, bad: true},
	} {
		got, err := tc.c.String()
		if tc.bad {
			if err == nil {
				t.Errorf("%+v rendered %q, want error", tc.c, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%+v = %q, %v; want %q", tc.c, got, err, tc.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"a=1; b=2", `x="q"`, "a=1,b=2", ";;=;", "\xff=\x00", "n=" + strings.Repeat("v", 100)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, c := range Parse(s) {
			if !validName(c.Name) || strings.ContainsAny(c.Value, ";,") {
				t.Fatalf("Parse(%q) yielded %+v", s, c)
			}
			out, err := SetCookie{Name: c.Name, Value: c.Value}.String()
			if err == nil && strings.ContainsAny(out, "\r\n\x00") {
				t.Fatalf("Set-Cookie with control bytes: %q", out)
			}
		}
	})
}

func FuzzParseToken(f *testing.F) {
	tok, _ := newTokenFrom(bytes.NewReader(bytes.Repeat([]byte{1}, 32)))
	for _, s := range []string{string(tok), "v1.", "", "v1.AAAA", string(tok) + "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := ParseToken(s)
		if err != nil {
			return
		}
		if string(tok) != s || len(s) != encodedLen {
			t.Fatalf("accepted %q", s)
		}
		if _, err := (SetCookie{Name: "s", Value: string(tok)}).String(); err != nil {
			t.Fatalf("a valid token is not a valid cookie value: %v", err)
		}
	})
}
