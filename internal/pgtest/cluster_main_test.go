package pgtest_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/pgstrict/pgstrict/internal/pgtest"
)

// clusterCrashHelperEnv selects the crash helper mode of this test binary,
// used by TestClusterWatchdogCleansUpAfterCrash.
const clusterCrashHelperEnv = "PGTEST_CLUSTER_CRASH_HELPER"

// clusterCrashHelperNoBinaries is the helper's report when it cannot start
// a cluster because no server binaries exist.
const clusterCrashHelperNoBinaries = "no server binaries"

func TestMain(m *testing.M) {
	if os.Getenv(clusterCrashHelperEnv) == "1" {
		clusterCrashHelper()
	}
	os.Exit(pgtest.Main(m))
}

// clusterCrashHelper starts a cluster, reports its directory and port on
// stdout, waits for a line on stdin and then panics, so that no deferred
// cleanup and no Main runs: only the watchdog can stop the cluster.
func clusterCrashHelper() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	c, err := pgtest.StartCluster(ctx, pgtest.ClusterOptions{})
	cancel()
	if errors.Is(err, pgtest.ErrNoServerBinaries) {
		fmt.Println(clusterCrashHelperNoBinaries)
		os.Exit(4)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "crash helper:", err)
		os.Exit(1)
	}
	fmt.Printf("cluster %s %d\n", c.Dir(), c.Port())
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
	panic("crash helper: simulated crash without cleanup")
}
