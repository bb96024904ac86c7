// Command gateway is the authentication gateway: it answers the account API,
// authenticates and authorizes every other request, and streams the allowed
// ones to the upstream. See README.md and ../shared/SPEC.md for the contract.
//
// This package only wires: it builds configuration, loggers, stores and the
// server, and runs them. No business logic lives here.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// After the first signal, restore the default handling: a second
		// Ctrl-C or SIGTERM during the graceful drain ends the process.
		<-ctx.Done()
		stop()
	}()
	err := newRootCommand(os.Stdout, os.Stderr, os.Environ()).ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "gateway:", err)
		os.Exit(exitCode(err))
	}
}

// exitError carries a specific exit status (e.g. 1 for a failed check).
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func exitCode(err error) int {
	if ee, ok := err.(*exitError); ok {
		return ee.code
	}
	return 1
}

// env is what commands need from the process, passed explicitly so that
// tests can run commands in-process.
type env struct {
	stdout, stderr io.Writer
	environ        []string
}
