"""boxlite-e2e's library: `harness` (what a case run imports), `stack` (stack operations), `proof`
(proof tools) and the shared leaves they all use."""
