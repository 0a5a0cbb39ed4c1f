package config

import (
	"strings"
	"testing"
	"time"
)

func TestCacheKeys(t *testing.T) {
	d := Default()
	eq(t, "cache_size default", d.CacheSize, CacheSizeUnset)
	eq(t, "cache_memory default", d.CacheMemory, 256<<20)
	eq(t, "cache_ttl default", d.CacheTTL, 30*time.Second)
	eq(t, "negative_cache_ttl default", d.NegativeCacheTTL, 2*time.Second)
	eq(t, "change_feed default", d.ChangeFeed, true)

	c := mustParse(t, "cache_memory: 64MiB\ncache_size: 500\ncache_ttl: 1h\nnegative_cache_ttl: 0s\nchange_feed: false\n", nil)
	eq(t, "cache_size from yaml", c.CacheSize, 500)
	eq(t, "cache_memory from yaml", c.CacheMemory, 64<<20)
	eq(t, "cache_ttl from yaml", c.CacheTTL, time.Hour)
	eq(t, "negative_cache_ttl from yaml", c.NegativeCacheTTL, time.Duration(0))
	eq(t, "change_feed from yaml", c.ChangeFeed, false)

	c = mustParse(t, "", map[string]string{"EXTAUTHZ_CACHE_SIZE": "7", "EXTAUTHZ_CHANGE_FEED": "false", "EXTAUTHZ_CACHE_MEMORY": "1GiB"},
		"--cache-ttl", "10s", "--negative-cache-ttl=1s", "--cache-size=0", "--cache-memory=300MB")
	eq(t, "cache_memory flag over env", c.CacheMemory, 300_000_000)
	eq(t, "cache_size flag over env", c.CacheSize, 0)
	eq(t, "change_feed from env", c.ChangeFeed, false)
	eq(t, "cache_ttl from flag", c.CacheTTL, 10*time.Second)
	eq(t, "negative_cache_ttl from flag", c.NegativeCacheTTL, time.Second)

	for _, tt := range []struct {
		mutate func(*Config)
		want   string
	}{
		{func(c *Config) { c.CacheSize = -2 }, "cache_size: must be 0 (off) or more, got -2"},
		{func(c *Config) { c.CacheMemory = 1000 }, "cache_memory: must be 0 (off) or at least 1MiB, got 1000"},
		{func(c *Config) { c.CacheMemory = -1 }, "cache_memory: must be 0 (off) or at least 1MiB"},
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

func TestParseByteSize(t *testing.T) {
	for in, want := range map[string]ByteSize{
		"0": 0, "268435456": 256 << 20, "256MiB": 256 << 20, "1.5GiB": 3 << 29, "300MB": 300_000_000,
		"64 KiB": 64 << 10, "512B": 512, "2kB": 2000,
	} {
		if got, err := ParseByteSize(in); err != nil || got != want {
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "MiB", "lots", "1e9", "0x10", "12 parsecs", "NaNMiB"} {
		if got, err := ParseByteSize(in); err == nil {
			t.Errorf("ParseByteSize(%q) = %d, want an error", in, got)
		}
	}
	if s := ByteSize(256 << 20).String(); s != "256MiB" {
		t.Errorf("String = %q", s)
	}
	if _, err := parse(t, "", map[string]string{"EXTAUTHZ_CACHE_MEMORY": "a lot"}); err == nil || !strings.Contains(err.Error(), "cache_memory") {
		t.Errorf("a bad size in the environment = %v, want an error naming cache_memory", err)
	}
	if _, err := parse(t, "cache_memory: [1]\n", nil); err == nil || !strings.Contains(err.Error(), "cache_memory") {
		t.Errorf("a bad size in YAML = %v, want an error naming cache_memory", err)
	}
	if _, err := parse(t, "cache_memory: 12 parsecs\n", nil); err == nil || !strings.Contains(err.Error(), "cache_memory") {
		t.Errorf("a bad size in YAML = %v, want an error naming cache_memory", err)
	}
}
