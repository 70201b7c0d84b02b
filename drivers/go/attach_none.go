//go:build !boxlite_attach

// Go SDK eras without attach-by-execution-id: executions have no id the SDK exposes, and
// the attach op is refused (the ready line says attach: false).
package main

import boxlite "github.com/boxlite-ai/boxlite/sdks/go"

const attachSupported = false

func mintExecutionID() string { return "" }

func setExecutionID(*boxlite.ExecutionOptions, string) {}

func attachExecution(*boxlite.Box, string, *boxlite.ExecutionOptions) (*boxlite.Execution, error) {
	panic("attachExecution without boxlite_attach")
}
