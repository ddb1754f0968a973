//go:build !unix

package bench

import "time"

// processCPUTime is not available here: the cpu-ns metrics are left out.
func processCPUTime() (time.Duration, bool) { return 0, false }
