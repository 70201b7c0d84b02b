//go:build boxlite_attach

// Go SDK eras with ExecutionOptions.ExecutionID and Box.AttachExecution: the driver pins
// each execution's id (the SDK lets the caller choose it) so the harness can re-attach by it.
// Built with -tags boxlite_attach.
package main

import (
	"crypto/rand"
	"encoding/hex"

	boxlite "github.com/boxlite-ai/boxlite/sdks/go"
)

const attachSupported = true

func mintExecutionID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return ""
	}
	return "e2e-go-" + hex.EncodeToString(b[:])
}

func setExecutionID(o *boxlite.ExecutionOptions, id string) { o.ExecutionID = id }

func attachExecution(b *boxlite.Box, id string, o *boxlite.ExecutionOptions) (*boxlite.Execution, error) {
	return b.AttachExecution(bg, id, o)
}
