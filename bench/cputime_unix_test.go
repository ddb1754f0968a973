//go:build unix

package bench

import (
	"syscall"
	"time"
)

// processCPUTime returns the CPU time (user and system) the process has
// used so far: every goroutine of the benchmark and the garbage collector,
// but not the server, which is another process.
func processCPUTime() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
