//go:build boxlite_rest_options

// The REST runtime of Go SDK eras whose NewRest takes a BoxliteRestOptions struct with a
// Credential (the name the Node and Python SDKs share). Built with -tags boxlite_rest_options.
package main

import boxlite "github.com/boxlite-ai/boxlite/sdks/go"

func newRest(url, apiKey, prefix string) (*boxlite.Runtime, error) {
	return boxlite.NewRest(boxlite.BoxliteRestOptions{
		URL:        url,
		Credential: boxlite.NewApiKeyCredential(apiKey),
		Prefix:     prefix,
	})
}
