package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// Exit codes of the pgstrict process, documented in the root --help text.
const (
	exitOK      = 0 // the command did what was asked
	exitFailure = 1 // runtime failure: connection, protocol, server or I/O error
	exitUsage   = 2 // usage error: unknown command, bad flag, bad argument
)

// rootLong is the description at the top of "pgstrict --help".
const rootLong = `pgstrict is a strict, fail-closed PostgreSQL wire-protocol toolkit.

Results are written to stdout; progress and diagnostics to stderr.

Exit codes:
  0  success
  1  runtime failure (connection, protocol, server or I/O error)
  2  usage error (unknown command, bad flag or argument)`

// cli is what a subcommand may use of the process: its streams, its
// environment and the version. Subcommands take it instead of reaching for
// os.Stdin, os.Stdout, os.Getenv, so that run is testable without a process.
type cli struct {
	stdin   io.Reader
	stdout  io.Writer // results
	stderr  io.Writer // progress and diagnostics
	env     []string  // KEY=value pairs, as os.Environ returns them
	version string
}

// lookupEnv returns the value of the environment variable key and whether it
// is set. When a key appears more than once, the last entry wins, as it does
// for exec.Cmd.Env.
func (c *cli) lookupEnv(key string) (string, bool) {
	for i := len(c.env) - 1; i >= 0; i-- {
		k, v, ok := strings.Cut(c.env[i], "=")
		if ok && k == key {
			return v, true
		}
	}
	return "", false
}

// run runs pgstrict with args (without the program name) and returns the
// process exit code. It is main without the process: tests call it directly.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, env []string) int {
	info, ok := debug.ReadBuildInfo()
	c := &cli{
		stdin:   stdin,
		stdout:  stdout,
		stderr:  stderr,
		env:     env,
		version: resolveVersion(version, info, ok),
	}
	return execute(ctx, newRootCmd(c), args, stderr)
}

// newRootCmd builds the command tree. Each subcommand lives in its own file,
// <name>.go, with a newXxxCmd(c *cli) constructor and its tests in
// <name>_test.go; add it to the AddCommand list below, keeping it sorted.
func newRootCmd(c *cli) *cobra.Command {
	root := &cobra.Command{
		Use:   "pgstrict",
		Short: "A strict, fail-closed PostgreSQL wire-protocol toolkit",
		Long:  rootLong,
		// execute prints errors and picks the exit code; cobra prints nothing.
		SilenceErrors:     true,
		SilenceUsage:      true,
		CompletionOptions: cobra.CompletionOptions{DisableDefaultCmd: true},
	}
	root.SetIn(c.stdin)
	root.SetOut(c.stdout)
	root.SetErr(c.stderr)
	root.AddCommand(
		newExecCmd(c),
		newReplicateCmd(c),
		newVersionCmd(c),
	)
	return root
}

// runtimeError marks an error returned by a command's RunE: the command line
// was valid and the work failed.
type runtimeError struct{ err error }

func (e *runtimeError) Error() string { return e.err.Error() }
func (e *runtimeError) Unwrap() error { return e.err }

// usageError is an error a command's RunE returns when it finds its arguments
// or flags invalid (a check cobra cannot express). It maps to exit code 2.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// usageErrorf returns a usage error with a formatted message.
func usageErrorf(format string, args ...any) error {
	return &usageError{err: fmt.Errorf(format, args...)}
}

// execute runs root with args and maps the outcome to an exit code. Errors
// that cobra reports itself (unknown command, unknown or malformed flag, wrong
// number of arguments, missing required flag) are usage errors; errors from a
// command's RunE are runtime failures unless they wrap a *usageError.
func execute(ctx context.Context, root *cobra.Command, args []string, stderr io.Writer) int {
	markRunErrors(root)
	if args == nil {
		// cobra reads os.Args when given nil; run's caller means "no arguments".
		args = []string{}
	}
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return exitOK
	}
	fmt.Fprintf(stderr, "%s: %v\n", root.Name(), err)
	var ue *usageError
	var re *runtimeError
	if errors.As(err, &re) && !errors.As(err, &ue) {
		return exitFailure
	}
	if cmd == nil {
		cmd = root
	}
	fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", cmd.CommandPath())
	return exitUsage
}

// markRunErrors wraps the RunE of cmd and of every command below it so that
// the errors it returns are marked as runtime errors.
func markRunErrors(cmd *cobra.Command) {
	if runE := cmd.RunE; runE != nil {
		cmd.RunE = func(cmd *cobra.Command, args []string) error {
			if err := runE(cmd, args); err != nil {
				return &runtimeError{err: err}
			}
			return nil
		}
	}
	for _, sub := range cmd.Commands() {
		markRunErrors(sub)
	}
}
