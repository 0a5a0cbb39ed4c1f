// Package cache answers the steady state from memory: bounded TTL caches in
// front of authz.ProfileSource (by normalised email), authz.SessionStore and
// authz.AccessTokenStore (by token hash), each a decorator implementing the
// same interface, and a Listener that keeps every replica's caches honest
// through PostgreSQL LISTEN/NOTIFY (pkg/store/notify).
//
// # Contract
//
//   - Bounded: by a Budget of bytes shared by every cache (cache_memory:
//     an insert beyond it evicts least recently used entries of the caches
//     in proportion to what each holds), and by Options.Size entries per
//     cache when set, positive and negative together; the least recently
//     used entry makes room.
//   - A positive answer lives until Options.TTL after it was read, a
//     session never past its ExpiresAt, an access token never past its
//     ExpiresAt. While the change feed is up (Options.Feed) the TTL is
//     FeedLifetime times longer, since the feed keeps entries right; once
//     the feed is down such an entry is used for at most one TTL after the
//     feed last delivered. Expired entries are never served, not even when
//     the store is down (decision row 6: a *fresh* cached answer is used,
//     else 503).
//   - Refresh ahead: the first hit on a positive entry past 3/4 of its TTL
//     (plus up to 1/8 of jitter) is answered from memory and reloads the
//     entry in the background, one reload per entry, sharing a trip with
//     any concurrent miss. A key in steady use therefore never expires on
//     the request path, and entries loaded together are not reloaded
//     together. A failed reload changes nothing: the entry still ends at
//     its deadline. Entries bounded by their own expiry are not reloaded.
//   - Sweep drops every expired entry in one pass (serve runs it every
//     10 s); otherwise a dead entry would hold its memory, traced by the
//     collector on every cycle, until looked up or evicted.
//   - "Not found" (authz.ErrNotFound) is cached for Options.NegativeTTL.
//     Transient failures (authz.IsTransient) and permanent errors are never
//     cached.
//   - Concurrent misses of one key share one store trip (singleflight). The
//     trip keeps the first caller's deadline but not its cancellation; each
//     caller still stops waiting at its own deadline (a transient error).
//   - Writes through a decorator update or drop the local entry:
//     ReplaceSession drops the old session and caches the new one,
//     DeleteSession drops, RenewSession updates in place (drops on "no live
//     session"), RegisterProfile caches the profile it returns.
//   - Invalidate drops what a notify.Event names: profile events by email
//     (and every access token of that profile), session and token events by
//     hash. Purge drops everything.
//   - No stale refill: every shard has an invalidation sequence. A store
//     read that started before an eviction of its shard is returned to its
//     callers but not cached, and a caller that saw the eviction does not
//     take the answer of a trip that predates it.
//
// The Listener holds one dedicated connection (not from the pool), runs
// LISTEN extauthz_invalidate and applies each event to every cache. When the
// connection fails it reports down (Ready returns an error; the ListenerUp
// gauge is 0), the caches keep answering within their TTL, and it reconnects
// with capped exponential backoff. Every successful LISTEN purges the
// caches, because events may have been missed while down. Events stamped by
// notify.Publish feed the invalidation-lag histogram. A silent connection
// is pinged every Keepalive so a vanished peer is noticed.
//
// # Why not a library
//
// github.com/hashicorp/golang-lru/v2/expirable was the candidate. It was
// not used because: its TTL is one value per cache, while a session entry
// must end at the session's own expiry and negative entries need a shorter
// TTL; its clock is time.Now, so TTL tests would have to sleep; it has one
// mutex for the whole cache, on the path every request takes; and it has no
// hook for the per-shard invalidation sequence that closes the race between
// a store read and an eviction. What is needed is small: a map and a
// recency list per shard (lru.go), split into up to 64 shards by the key's
// hash. A hit takes one shard lock for a map lookup and a list move and
// allocates nothing (see BenchmarkHit*). The layout is chosen for the
// garbage collector, which traces the whole cache on every cycle while
// requests run: entries sit in one slab per shard linked by index, the map
// holds indexes, and a session entry holds no pointer at all: its strings
// live in the shard's append-only arena (a hit hands out views of it),
// its times are integers and its key is the first 128 bits of the token
// hash (codec.go). The collector's scan work is then the same for 0, 100,000
// and 1,000,000 cached sessions (BenchmarkGCFullCache reports the scannable
// heap: about 160 KB, 170 KB and 240 KB), and a session costs about 230
// bytes.
package cache
