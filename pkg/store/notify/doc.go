// Package notify defines the change feed that keeps every replica's caches
// honest: the PostgreSQL channel name, the JSON payload of one event, and
// Publish, which the stores call inside the transaction that makes the
// change (so the event is delivered if and only if the change commits).
//
// Events, one per changed thing:
//
//	{"kind":"profile","id":"<uuid>","email":"<email>"}  created, blocked, unblocked,
//	                                                     activated, deactivated,
//	                                                     deleted, email changed
//	                                                     (one event per email)
//	{"kind":"session","hash":"<hex sha-256>"}            deleted, replaced, renewed,
//	                                                     revoked
//	{"kind":"token","hash":"<hex sha-256>"}              revoked
//	{"kind":"logout","iss":"…","sub":"…","sid":"…",       an OpenID Connect back-channel
//	 "logged_out_at":<µs>,"until":<µs>}                  logout (sub and/or sid), added
//	                                                     to every replica's ledger
//
// Publish adds "at" (Unix microseconds, the publisher's clock) to every
// payload; ParseStamped returns it so a listener can measure the
// invalidation lag, and Parse ignores it.
//
// A listener drops its cached answers for the named key and re-reads on the
// next request; an event never carries the new state. Payloads stay far
// below PostgreSQL's 8000-byte NOTIFY limit. Parse ignores unknown fields so
// the payload can grow.
package notify
