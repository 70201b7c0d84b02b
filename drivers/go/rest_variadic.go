//go:build !boxlite_rest_options

// The REST runtime of Go SDK eras whose NewRest takes the URL and functional options
// (WithApiKey, WithPrefix). The bootstrap step picks this file unless the checkout's SDK
// declares BoxliteRestOptions (see rest_options.go).
package main

import boxlite "github.com/boxlite-ai/boxlite/sdks/go"

func newRest(url, apiKey, prefix string) (*boxlite.Runtime, error) {
	opts := []boxlite.RestOption{boxlite.WithApiKey(apiKey)}
	if prefix != "" {
		opts = append(opts, boxlite.WithPrefix(prefix))
	}
	return boxlite.NewRest(url, opts...)
}
