package pgtest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
)

// clusterWatchdogScript is run by a detached sh for each managed cluster.
// Its stdin is a pipe whose only writer is this process (the write end is
// close-on-exec, so no other child holds it). The read blocks until we write
// "release" (Stop cleaned up: exit quietly) or until the pipe reaches EOF,
// which happens when this process exits for any reason, including a panic,
// os.Exit or SIGKILL, since the kernel closes our descriptors. Then it stops
// the server in immediate mode and removes the cluster directory. Waiting on
// the pipe is an event, so there is no polling and no PID-reuse race.
//
// Arguments: $1 cluster dir, $2 data dir, then the pg_ctl command (with
// runuser prefix when root).
const clusterWatchdogScript = `trap '' HUP INT
dir=$1
data=$2
shift 2
read -r line
[ "$line" = release ] && exit 0
"$@" -D "$data" -m immediate -w -t 30 stop >/dev/null 2>&1
rm -rf "$dir"
`

// clusterWatchdog is the handle of one watchdog process.
//
// clusterWatchdog is safe for concurrent use by multiple goroutines.
type clusterWatchdog struct {
	cmd *exec.Cmd // set before publication

	mu sync.Mutex
	// guards following fields
	w       *os.File // write end of the watchdog's stdin; nil once released or triggered
	waitErr error    // result of cmd.Wait once w is nil
}

// clusterStartWatchdog starts the watchdog of the cluster in dir. It runs in
// its own process group so that a terminal's SIGINT to our group does not
// reach it and it outlives this process.
func clusterStartWatchdog(dir, dataDir string, pgctl []string) (*clusterWatchdog, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("pgtest: watchdog pipe: %w", err)
	}
	args := append([]string{"-c", clusterWatchdogScript, "pgstrict-pg-watchdog", dir, dataDir}, pgctl...)
	cmd := exec.Command("sh", args...)
	cmd.Stdin = r // an *os.File is handed over as is: no copying goroutine
	// Stdout and Stderr stay nil (/dev/null): go test waits for EOF on the
	// test binary's output, which an inherited descriptor would delay.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Env = clusterChildEnv(os.Environ())
	if err := cmd.Start(); err != nil {
		_ = r.Close()
		_ = w.Close()
		return nil, fmt.Errorf("pgtest: start watchdog: %w", err)
	}
	_ = r.Close() // the watchdog holds its own copy
	return &clusterWatchdog{cmd: cmd, w: w}, nil
}

// release tells the watchdog that the cluster is already cleaned up, and
// waits for it to exit.
func (wd *clusterWatchdog) release() error {
	return wd.finish("release\n")
}

// trigger makes the watchdog stop the server and remove the directory now,
// and waits for it to finish (bounded by pg_ctl's own 30s timeout).
func (wd *clusterWatchdog) trigger() error {
	return wd.finish("")
}

// finish writes msg (may be empty), closes the pipe and reaps the watchdog.
// Later calls return the first call's result.
func (wd *clusterWatchdog) finish(msg string) error {
	wd.mu.Lock()
	defer wd.mu.Unlock()
	if wd.w == nil {
		return wd.waitErr
	}
	var writeErr error
	if msg != "" {
		if _, err := wd.w.WriteString(msg); err != nil {
			writeErr = fmt.Errorf("pgtest: signal watchdog: %w", err)
		}
	}
	closeErr := wd.w.Close()
	wd.w = nil
	waitErr := wd.cmd.Wait()
	if waitErr != nil {
		waitErr = fmt.Errorf("pgtest: watchdog: %w", waitErr)
	}
	wd.waitErr = errors.Join(writeErr, closeErr, waitErr)
	return wd.waitErr
}
