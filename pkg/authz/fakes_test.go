package authz_test

import (
	"fmt"
	"strings"
	"sync"

	"github.com/extauthz/extauthz/pkg/authz/authztest"
	"github.com/extauthz/extauthz/pkg/cookie"
)

var (
	newProfiles = authztest.NewProfiles
	newSessions = authztest.NewSessions
)

// seqTokens mints predictable, well-formed tokens.
type seqTokens struct {
	mu sync.Mutex
	n  int
}

func (s *seqTokens) next() (cookie.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	return testToken(s.n), nil
}

// testToken returns the n-th well-formed test token.
func testToken(n int) cookie.Token {
	body := fmt.Sprintf("%042d", n)
	body = strings.ReplaceAll(body, "0", "A") + "A"
	tok, err := cookie.ParseToken(cookie.TokenPrefix + body)
	if err != nil {
		panic(err)
	}
	return tok
}

func hashOf(s string) cookie.Hash { return cookie.HashString(s) }
