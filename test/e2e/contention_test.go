package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/extauthz/extauthz/internal/pgtest"
)

// E2E_BUSY_LOOPS=N (make e2e-contended: 3) runs the whole suite with N
// busy-loop processes competing for the CPU, as on a loaded node: a
// database round trip that waits for CPU must not look like an outage to
// the user. Each loop is this test binary re-run with spinEnv set; it
// stops by itself when the suite's process is gone, or after spinLimit.
const (
	busyEnv   = "E2E_BUSY_LOOPS"
	spinEnv   = "EXTAUTHZ_E2E_SPIN"
	spinLimit = 30 * time.Minute
)

func TestMain(m *testing.M) {
	if os.Getenv(spinEnv) != "" {
		spin()
		return
	}
	stop := startBusyLoops()
	code := m.Run()
	stop()
	pgtest.Exit(code)
}

// spin burns one CPU until its parent exits or spinLimit passes.
func spin() {
	parent, end := os.Getppid(), time.Now().Add(spinLimit)
	for i := 0; ; i++ {
		if i%(1<<22) == 0 && (os.Getppid() != parent || time.Now().After(end)) {
			return
		}
	}
}

// startBusyLoops starts the busy loops E2E_BUSY_LOOPS asks for and returns
// the function that stops them (by PID).
func startBusyLoops() func() {
	n, _ := strconv.Atoi(os.Getenv(busyEnv))
	var procs []*exec.Cmd
	for range n {
		cmd := exec.Command(os.Args[0], "-test.run", "^$")
		cmd.Env = append(os.Environ(), spinEnv+"=1")
		if err := cmd.Start(); err != nil {
			fmt.Fprintf(os.Stderr, "e2e: starting a busy loop: %v\n", err)
			continue
		}
		procs = append(procs, cmd)
	}
	if len(procs) > 0 {
		fmt.Fprintf(os.Stderr, "e2e: %d busy loops competing for %d CPUs\n", len(procs), runtime.NumCPU())
	}
	return func() {
		for _, p := range procs {
			_ = p.Process.Kill()
			_ = p.Wait()
		}
	}
}
