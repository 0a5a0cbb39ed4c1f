package oidc_test

import (
	"testing"
	"time"

	"github.com/extauthz/extauthz/pkg/oidc"
)

func TestLedger(t *testing.T) {
	clk := &clock{now: t0}
	l := oidc.NewLedger(clk.Now)
	l.Add(oidc.Logout{Issuer: "i", Subject: "alice", SID: "s1", At: t0, Until: t0.Add(oidc.Retention)})
	l.Add(oidc.Logout{Issuer: "i", Subject: "bob", At: t0, Until: t0.Add(oidc.Retention)})
	cases := []struct {
		name          string
		iss, sub, sid string
		iat           time.Time
		want          bool
	}{
		{"the logged-out sid", "i", "alice", "s1", t0.Add(time.Hour), true},
		{"another sid of that subject", "i", "alice", "s2", t0.Add(-time.Hour), false},
		{"that subject's token without a sid, issued before", "i", "alice", "", t0.Add(-time.Hour), true},
		{"that subject's token without a sid, issued after", "i", "alice", "", t0.Add(time.Second), false},
		{"sid of another issuer", "j", "alice", "s1", t0, false},
		{"subject, issued before", "i", "bob", "x", t0.Add(-time.Second), true},
		{"subject, issued at the logout", "i", "bob", "", t0, true},
		{"subject, issued after", "i", "bob", "", t0.Add(time.Second), false},
		{"subject, no iat", "i", "bob", "", time.Time{}, true},
		{"someone else", "i", "carol", "", t0.Add(-time.Hour), false},
	}
	for _, c := range cases {
		if got := l.LoggedOut(c.iss, c.sub, c.sid, c.iat); got != c.want {
			t.Errorf("%s: LoggedOut = %v, want %v", c.name, got, c.want)
		}
	}
	clk.add(oidc.Retention + time.Second)
	if n := l.Sweep(); n != 3 || l.Len() != 0 {
		t.Fatalf("Sweep = %d, Len = %d", n, l.Len())
	}
	l.Replace([]oidc.Logout{{Issuer: "i", SID: "s9", Until: clk.Now().Add(time.Hour)}})
	if !l.LoggedOut("i", "", "s9", time.Time{}) || l.LoggedOut("i", "bob", "", time.Time{}) {
		t.Fatal("Replace did not make the ledger hold exactly what it was given")
	}
}
