// Package pgtest gives tests a real, isolated PostgreSQL database.
//
// URL and Pool return a fresh, empty database created for the calling test
// and dropped (WITH (FORCE)) in its cleanup, so tests can run with
// t.Parallel() without seeing each other's rows.
//
// Where the databases live:
//
//   - If EXTAUTHZ_TEST_DATABASE_URL is set, on that server (its role needs
//     CREATEDB); the URL's own database is used only to create and drop the
//     per-test ones.
//   - Otherwise on one throw-away cluster per test binary, started on first
//     use: initdb (trust auth, superuser "postgres") into a temporary
//     directory, postgres listening on 127.0.0.1 at a free port with its
//     unix socket in that directory, fsync off. The binaries are taken from
//     PATH or from the highest version under /usr/lib/postgresql/*/bin. As
//     root, initdb and postgres run as the "postgres" OS user.
//
// A package that uses the shared cluster calls Main from its TestMain, which
// stops the cluster after the tests ran. Every postgres this package starts
// also carries a parent-death signal (SIGQUIT, PostgreSQL's immediate
// shutdown), so a test binary that panics, times out or is killed never
// leaves a server behind.
//
// NewCluster starts a dedicated cluster owned by one test, with Stop (an
// immediate shutdown, as `pg_ctl stop -m immediate` does) and Start, for
// tests that need the database to disappear and come back under a running
// client. StopClean is the clean (fast) shutdown a switchover performs.
//
// For failover tests, NewCluster(t, Replication()) starts a primary that
// NewStandby copies with pg_basebackup -R (from the same binaries as initdb)
// into a hot standby streaming from it; Promote ends its recovery, and
// HostsURL names several clusters in one multi-host URL, as a client
// configured for failover (target_session_attrs=read-write) would.
//
// Nothing here skips: if PostgreSQL cannot be found or started the test
// fails, naming what was missing.
package pgtest
