// Package chaos is the fault-injection suite: the real extauthz binary on a
// throw-away PostgreSQL, driven over real gRPC on loopback by a load
// generator of simulated browsers (each a fixed identity with a cookie
// jar; browsers whose person changes, sending several requests at once on
// the change; first sign-ins on an auto-register app; never-seen emails),
// while the test stops PostgreSQL, makes it slow, resets its connections
// mid-query, exhausts the pool, kills the change feed's LISTEN connection,
// and switches over from a primary to its streaming standby under two
// replicas on a multi-host URL. Every response is recorded and judged:
// no cookie is expired and no identity switches because of a fault, 503
// only where no cached answer existed, and the service recovers within a
// stated bound without a restart. `make chaos` (CHAOS_FULL=1) runs the long
// version and prints the figures table; plain `go test` runs the short one.
package chaos
