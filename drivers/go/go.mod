module github.com/boxlite-e2e/drivers/go

go 1.19

require github.com/boxlite-ai/boxlite/sdks/go v0.0.0

// The SDK is never fetched: the cloud bootstrap builds a copy of this directory with
// `go mod edit -replace github.com/boxlite-ai/boxlite/sdks/go=<checkout>/sdks/go`
// (lib/stack/bootstrap/cloud_sdks.py, go_sdk). Without that replace this module does not build.
