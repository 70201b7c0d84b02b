"""The SDK axis: one neutral client interface, implemented by every SDK the harness drives.

Every case used to drive the Python SDK only, so the harness saw only bugs on the Python
SDK's path. BoxLite ships one REST client core under several SDKs, each with its own binding
layer, and that layer is where bugs hide: boxlite-ai/boxlite#563's fix was in the Go SDK's
`Execution.Wait`, and upstream noted that the Python e2e case passed on both sides of it.
Cases that state a client-visible contract therefore take the `client` fixture and run once
per SDK (`python`, `node`, `go`):

- `base`: the interface (`Client`, `ClientBox`, `ClientExec`), `ClientError` with a neutral
  `kind`, and the mapping from each SDK's error text/class to that kind;
- `python_client`: the interface over the harness's own `boxlite` runtime (`rt`);
- `driver`: the interface over a long-lived driver process speaking JSON lines over stdio
  (`drivers/node/driver.mjs` over `@boxlite-ai/boxlite`; the Go driver speaks the same
  protocol), its log kept per case, a crash reported as a failure naming the case;
- `availability`: which SDKs this host can drive, and why not ("not applicable", never a
  silent pass).
"""

SDKS = ("python", "node", "go")
