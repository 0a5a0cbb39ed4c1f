package server

import (
	"crypto/rand"
	"log/slog"

	"github.com/extauthz/extauthz/pkg/config"
)

// emailHashKey is the key of the email_hash in decision logs:
// log.email_hash_key, so that every replica (and the next process) hashes
// one person alike; else a random key, which correlates lines of this
// process only; the operator is told so when hashes are logged.
func emailHashKey(c config.Log, log *slog.Logger) []byte {
	if c.EmailHashKey != "" {
		return []byte(c.EmailHashKey)
	}
	if !c.LogEmails {
		log.Warn("log.email_hash_key is not set: email_hash uses a random key of this process, so it cannot correlate one person across replicas or restarts")
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	return key
}
