package main

import (
	"fmt"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// version is the release version, set when linking with
// -ldflags "-X main.version=v1.2.3" (make build does). It is never written at
// run time.
var version = "dev"

// resolveVersion picks the version to report: the linked-in one if set,
// otherwise the module version recorded by "go install ...@v1.2.3", otherwise
// "dev".
func resolveVersion(linked string, info *debug.BuildInfo, ok bool) string {
	if linked != "" && linked != "dev" {
		return linked
	}
	if ok && info != nil && info.Main.Version != "" && info.Main.Version != "(devel)" {
		return info.Main.Version
	}
	return "dev"
}

// newVersionCmd builds "pgstrict version".
func newVersionCmd(c *cli) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the pgstrict version",
		Long: `Print the pgstrict version: the release it was built from, or "dev" for a
build from a source tree.`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if _, err := fmt.Fprintf(c.stdout, "pgstrict %s\n", c.version); err != nil {
				return fmt.Errorf("version: %w", err)
			}
			return nil
		},
	}
}
