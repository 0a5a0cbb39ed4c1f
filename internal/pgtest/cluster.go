package pgtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Timeouts for starting and stopping a cluster. Generous: a loaded CI
// machine can take seconds to run initdb.
const (
	initdbTimeout = 2 * time.Minute
	startTimeout  = time.Minute
	stopTimeout   = 30 * time.Second
)

// Cluster is a throw-away PostgreSQL cluster in a temporary directory, run
// as a child process of the test binary.
type Cluster struct {
	// Port is the TCP port on 127.0.0.1.
	Port int
	// Dir holds the data directory, the unix socket and postgres.log.
	Dir string

	bin      string              // directory holding initdb and postgres
	cred     *syscall.Credential // nil unless running as root
	settings []string            // extra -c settings (Replication)

	mu   sync.Mutex
	proc *exec.Cmd
	done chan struct{} // closed when proc has exited
	dead bool          // removed; Start refuses
}

// Option changes how NewCluster sets a cluster up.
type Option func(*Cluster)

// Replication makes the cluster a primary that NewStandby can copy and
// stream from: wal_level replica, WAL senders, WAL kept for a standby that
// falls a little behind, and a pg_hba entry for replication connections
// over 127.0.0.1. A standby retries streaming every 100 ms rather than
// every 5 s, so that a promotion right after the primary stopped does not
// wait out a retry sleep.
func Replication() Option {
	return func(c *Cluster) {
		c.settings = append(c.settings,
			"wal_level=replica",
			"max_wal_senders=10",
			"wal_keep_size=128MB",
			"hot_standby=on",
			"wal_retrieve_retry_interval=100ms",
		)
	}
}

// NewCluster starts a dedicated cluster for t, stopped and removed in t's
// cleanup. It fails t if PostgreSQL cannot be found or started.
func NewCluster(t testing.TB, opts ...Option) *Cluster {
	t.Helper()
	c, err := newCluster(opts...)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(c.remove)
	return c
}

// NewStandby copies primary (started with Replication) with
// pg_basebackup -R into a new cluster and starts it as a hot standby that
// streams from primary: read-only until Promote. It is stopped and removed
// in t's cleanup.
func NewStandby(t testing.TB, primary *Cluster) *Cluster {
	t.Helper()
	c, err := newStandby(primary)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(c.remove)
	return c
}

// HostsURL returns a multi-host URL of database dbname naming every
// cluster in order (postgres://postgres@127.0.0.1:P1,127.0.0.1:P2/dbname),
// as the superuser postgres; it ends in a query string, so a caller can
// append "&target_session_attrs=read-write".
func HostsURL(dbname string, cs ...*Cluster) string {
	hosts := make([]string, len(cs))
	for i, c := range cs {
		hosts[i] = net.JoinHostPort("127.0.0.1", strconv.Itoa(c.Port))
	}
	return "postgres://postgres@" + strings.Join(hosts, ",") + "/" + url.PathEscape(dbname) + "?sslmode=disable"
}

// Promote ends a standby's recovery (pg_promote) and waits until it takes
// writes.
func (c *Cluster) Promote() error {
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		return fmt.Errorf("pgtest: promote: %w", err)
	}
	defer conn.Close(context.Background())
	var ok bool
	if err := conn.QueryRow(ctx, "SELECT pg_promote(true, 60)").Scan(&ok); err != nil || !ok {
		return fmt.Errorf("pgtest: pg_promote: %v %w", ok, err)
	}
	return nil
}

// StopClean shuts the cluster down cleanly (SIGINT, what `pg_ctl stop -m
// fast` sends): clients are disconnected with 57P01 admin_shutdown, and a
// primary sends its standbys all of its WAL before it exits, so a standby
// promoted afterwards has every committed transaction — a switchover, as
// Patroni or CloudNativePG perform it. Start starts it again.
func (c *Cluster) StopClean() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stopLocked(syscall.SIGINT)
}

// URL returns the connection URL of database dbname on the cluster, as the
// superuser postgres over TCP.
func (c *Cluster) URL(dbname string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.User("postgres"),
		Host:     net.JoinHostPort("127.0.0.1", strconv.Itoa(c.Port)),
		Path:     "/" + dbname,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// NewDatabase creates an empty database on the cluster for t and returns its
// URL. The cluster must be running. The database goes with the cluster.
func (c *Cluster) NewDatabase(t testing.TB) string {
	t.Helper()
	return newDatabase(t, c.URL("postgres"), c.URL, false)
}

// Stop shuts the cluster down immediately (SIGQUIT to the postmaster, what
// `pg_ctl stop -m immediate` sends) and waits for it to exit. Clients see
// their connections drop, as in a crash. Stopping a stopped cluster is a
// no-op.
func (c *Cluster) Stop() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stopLocked(syscall.SIGQUIT)
}

// Start starts a stopped cluster again on the same port and waits until it
// accepts connections. Starting a running cluster is a no-op.
func (c *Cluster) Start() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dead {
		return errors.New("pgtest: cluster already removed")
	}
	if c.running() {
		return nil
	}
	return c.startLocked()
}

// Running reports whether the postmaster process is alive.
func (c *Cluster) Running() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.running()
}

func (c *Cluster) running() bool {
	if c.done == nil {
		return false
	}
	select {
	case <-c.done:
		return false
	default:
		return true
	}
}

func (c *Cluster) stopLocked(sig syscall.Signal) error {
	if !c.running() {
		return nil
	}
	_ = c.proc.Process.Signal(sig)
	select {
	case <-c.done:
		return nil
	case <-time.After(stopTimeout):
	}
	_ = c.proc.Process.Kill()
	<-c.done
	return fmt.Errorf("pgtest: postgres did not stop within %v; killed it", stopTimeout)
}

// remove stops the cluster and deletes its directory.
func (c *Cluster) remove() {
	c.mu.Lock()
	defer c.mu.Unlock()
	_ = c.stopLocked(syscall.SIGQUIT)
	c.dead = true
	_ = os.RemoveAll(c.Dir)
	unregister(c)
}

// newCluster runs initdb into a fresh temporary directory and starts
// postgres on a free port.
func newCluster(opts ...Option) (_ *Cluster, err error) {
	c, err := emptyCluster()
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = os.RemoveAll(c.Dir)
		}
	}()
	for _, o := range opts {
		o(c)
	}
	if err := c.initdb(); err != nil {
		return nil, err
	}
	return c, c.launch()
}

// newStandby copies primary with pg_basebackup -R and starts the copy.
func newStandby(primary *Cluster) (_ *Cluster, err error) {
	c, err := emptyCluster()
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = os.RemoveAll(c.Dir)
		}
	}()
	c.settings = append([]string(nil), primary.settings...)
	ctx, cancel := context.WithTimeout(context.Background(), initdbTimeout)
	defer cancel()
	// -R writes standby.signal and primary_conninfo; -X stream copies the
	// WAL written during the backup; -c fast checkpoints at once.
	cmd := exec.CommandContext(ctx, filepath.Join(c.bin, "pg_basebackup"),
		"-h", "127.0.0.1", "-p", strconv.Itoa(primary.Port), "-U", "postgres",
		"-D", filepath.Join(c.Dir, "data"), "-R", "-X", "stream", "-c", "fast", "--no-sync")
	cmd.Dir = c.Dir
	cmd.Env = childEnv()
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred, Pdeathsig: syscall.SIGKILL}
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("pg_basebackup (%s) failed: %w\n%s", c.bin, err, out)
	}
	return c, c.launch()
}

// emptyCluster makes the temporary directory of a new cluster, owned by the
// postgres OS user when running as root.
func emptyCluster() (*Cluster, error) {
	bin, err := findBinaries()
	if err != nil {
		return nil, err
	}
	// os.MkdirTemp rather than t.TempDir: the unix socket path must stay
	// under ~100 bytes.
	dir, err := os.MkdirTemp("", "extauthz-pg-")
	if err != nil {
		return nil, fmt.Errorf("creating temp dir: %w", err)
	}
	c := &Cluster{Dir: dir, bin: bin}
	if os.Geteuid() == 0 {
		cred, err := postgresUser()
		if err == nil {
			err = os.Chown(dir, int(cred.Uid), int(cred.Gid))
		}
		if err != nil {
			_ = os.RemoveAll(dir)
			return nil, fmt.Errorf("preparing %s for the postgres user: %w", dir, err)
		}
		c.cred = cred
	}
	return c, nil
}

// launch registers c and starts it on a free port.
func (c *Cluster) launch() (err error) {
	register(c)
	c.mu.Lock()
	defer c.mu.Unlock()
	// A free port can be taken between probing and binding; try a few.
	for range 5 {
		if c.Port, err = freePort(); err != nil {
			break
		}
		if err = c.startLocked(); err == nil {
			return nil
		}
	}
	unregister(c)
	return err
}

func (c *Cluster) initdb() error {
	ctx, cancel := context.WithTimeout(context.Background(), initdbTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(c.bin, "initdb"),
		"-D", filepath.Join(c.Dir, "data"),
		"-U", "postgres", "-A", "trust",
		"--locale=C", "--encoding=UTF8", "--no-sync", "--no-instructions")
	cmd.Dir = c.Dir
	cmd.Env = childEnv()
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred, Pdeathsig: syscall.SIGKILL}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("initdb (%s) failed: %w\n%s", c.bin, err, out)
	}
	return nil
}

// startLocked launches the postmaster and waits until it accepts
// connections or exits.
func (c *Cluster) startLocked() error {
	logPath := filepath.Join(c.Dir, "postgres.log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("opening postgres log: %w", err)
	}
	defer logf.Close()
	cmd := c.postgresCmd(logf)
	done, err := startPinned(cmd)
	if err != nil {
		return fmt.Errorf("starting postgres: %w", err)
	}
	c.proc, c.done = cmd, done
	return c.waitAccepting(logPath, done)
}

// postgresCmd returns the postmaster command of the cluster, logging to
// logf.
func (c *Cluster) postgresCmd(logf *os.File) *exec.Cmd {
	cmd := exec.Command(filepath.Join(c.bin, "postgres"),
		"-D", filepath.Join(c.Dir, "data"),
		"-p", strconv.Itoa(c.Port),
		"-k", c.Dir,
		"-c", "listen_addresses=127.0.0.1",
		// fsync off is safe for a postgres crash (Stop); synchronous_commit
		// stays on so a committed row survives Stop/Start.
		"-c", "fsync=off",
		"-c", "full_page_writes=off",
		"-c", "max_connections=200",
		"-c", "shared_buffers=32MB",
	)
	for _, kv := range c.settings {
		cmd.Args = append(cmd.Args, "-c", kv)
	}
	cmd.Dir = c.Dir
	cmd.Env = childEnv()
	cmd.Stdout = logf
	cmd.Stderr = logf
	// Pdeathsig fires when the OS thread that forked the child exits, so the
	// child is started from a goroutine locked to its thread, which stays
	// blocked in Wait for the child's lifetime. If the test binary dies, the
	// kernel sends the postmaster SIGQUIT: an immediate shutdown.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred, Pdeathsig: syscall.SIGQUIT}
	return cmd
}

// startPinned starts cmd from a goroutine locked to its OS thread (see
// postgresCmd) and returns a channel closed once the child has exited.
func startPinned(cmd *exec.Cmd) (chan struct{}, error) {
	started := make(chan error, 1)
	done := make(chan struct{})
	go func() {
		runtime.LockOSThread()
		// Never unlocked: the thread ends with this goroutine, after the
		// child is gone.
		if err := cmd.Start(); err != nil {
			started <- err
			close(done)
			return
		}
		started <- nil
		_ = cmd.Wait()
		close(done)
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return done, nil
}

// waitAccepting waits until the started postmaster accepts connections; it
// stops it when that takes longer than startTimeout.
func (c *Cluster) waitAccepting(logPath string, done chan struct{}) error {
	deadline := time.Now().Add(startTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		conn, err := pgx.Connect(ctx, c.URL("postgres"))
		cancel()
		if err == nil {
			_ = conn.Close(context.Background())
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("postgres exited during startup:\n%s", tail(logPath))
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = c.stopLocked(syscall.SIGQUIT)
			return fmt.Errorf("postgres not accepting connections after %v (last error: %v):\n%s", startTimeout, err, tail(logPath))
		}
	}
}

// findBinaries returns the directory holding initdb and postgres: the one on
// PATH, else the highest version under /usr/lib/postgresql.
func findBinaries() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			p = real
		}
		dir := filepath.Dir(p)
		if _, err := os.Stat(filepath.Join(dir, "postgres")); err == nil {
			return dir, nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return versionOf(dirs[i]) > versionOf(dirs[j]) })
	for _, dir := range dirs {
		_, e1 := os.Stat(filepath.Join(dir, "initdb"))
		_, e2 := os.Stat(filepath.Join(dir, "postgres"))
		if e1 == nil && e2 == nil {
			return dir, nil
		}
	}
	return "", errors.New("PostgreSQL server binaries (initdb, postgres) not found on PATH " +
		"or under /usr/lib/postgresql/*/bin; install PostgreSQL (e.g. apt-get install postgresql) " +
		"or set EXTAUTHZ_TEST_DATABASE_URL to a server where the role may CREATE DATABASE")
}

// versionOf extracts the major version from /usr/lib/postgresql/<v>/bin.
func versionOf(dir string) float64 {
	v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(dir)), 64)
	return v
}

// postgresUser returns credentials of the postgres OS user, which initdb and
// postgres need because they refuse to run as root.
func postgresUser() (*syscall.Credential, error) {
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root, and PostgreSQL refuses root: need the OS user \"postgres\": %w", err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("postgres OS user has non-numeric uid %q / gid %q", u.Uid, u.Gid)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}, nil
}

// childEnv is the environment minus libpq variables, which would otherwise
// steer initdb or the readiness probe elsewhere.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "PG") || strings.HasPrefix(kv, "LC_") || strings.HasPrefix(kv, "LANG=") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "LC_ALL=C")
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// tail returns the last lines of the log at path, for error messages.
func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > 30 {
		lines = lines[len(lines)-30:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// Every cluster started by this process, so Main can stop what a test left
// running (a cleanup skipped by a failing TestMain, say).
var (
	clustersMu sync.Mutex
	clusters   = map[*Cluster]struct{}{}
)

func register(c *Cluster) {
	clustersMu.Lock()
	defer clustersMu.Unlock()
	clusters[c] = struct{}{}
}

func unregister(c *Cluster) {
	clustersMu.Lock()
	defer clustersMu.Unlock()
	delete(clusters, c)
}

func removeAll() {
	clustersMu.Lock()
	cs := make([]*Cluster, 0, len(clusters))
	for c := range clusters {
		cs = append(cs, c)
	}
	clustersMu.Unlock()
	for _, c := range cs {
		c.remove()
	}
}
