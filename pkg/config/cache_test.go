package config

import (
	"strings"
	"testing"
	"time"
)

func TestCacheKeys(t *testing.T) {
	d := Default()
	eq(t, "cache_size default", d.CacheSize, 100_000)
	eq(t, "cache_ttl default", d.CacheTTL, 30*time.Second)
	eq(t, "negative_cache_ttl default", d.NegativeCacheTTL, 2*time.Second)
	eq(t, "change_feed default", d.ChangeFeed, true)

	c := mustParse(t, "cache_size: 500\ncache_ttl: 1h\nnegative_cache_ttl: 0s\nchange_feed: false\n", nil)
	eq(t, "cache_size from yaml", c.CacheSize, 500)
	eq(t, "cache_ttl from yaml", c.CacheTTL, time.Hour)
	eq(t, "negative_cache_ttl from yaml", c.NegativeCacheTTL, time.Duration(0))
	eq(t, "change_feed from yaml", c.ChangeFeed, false)

	c = mustParse(t, "", map[string]string{"EXTAUTHZ_CACHE_SIZE": "7", "EXTAUTHZ_CHANGE_FEED": "false"},
		"--cache-ttl", "10s", "--negative-cache-ttl=1s", "--cache-size=0")
	eq(t, "cache_size flag over env", c.CacheSize, 0)
	eq(t, "change_feed from env", c.ChangeFeed, false)
	eq(t, "cache_ttl from flag", c.CacheTTL, 10*time.Second)
	eq(t, "negative_cache_ttl from flag", c.NegativeCacheTTL, time.Second)

	for _, tt := range []struct {
		mutate func(*Config)
		want   string
	}{
		{func(c *Config) { c.CacheSize = -1 }, "cache_size: must be 0 (off) or more, got -1"},
		{func(c *Config) { c.CacheTTL = 0 }, "cache_ttl: must be a positive duration"},
		{func(c *Config) { c.NegativeCacheTTL = -time.Second }, "negative_cache_ttl: must be 0 (off) or a positive duration"},
		{func(c *Config) { c.NegativeCacheTTL = time.Minute }, "negative_cache_ttl: must not exceed cache_ttl (30s), got 1m"},
	} {
		c := Default()
		tt.mutate(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Validate = %v, want %q", err, tt.want)
		}
	}
}
