// Command pgstrict is the command-line interface of the pgstrict toolkit. Run
// "pgstrict --help" for the commands and the exit codes.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	// An interrupt or SIGTERM cancels ctx, which the running command sees as
	// cmd.Context(). After that first signal the default handling is restored,
	// so a second one ends the process at once.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	context.AfterFunc(ctx, stop)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Environ())
	stop()
	os.Exit(code)
}
