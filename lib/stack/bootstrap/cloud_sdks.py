"""Cloud bootstrap: the SDKs of the SDK axis other than Python, built from the checkout.

Why: on the cloud stack the suite must test the code in front of it, so the Node driver
(`drivers/node/`) must load the checkout's `sdks/node`, not the npm release `make setup`
installs. One step, self-contained (wired in lib/stack/bootstrap/plan.py after `sdk`):

- `node_sdk`: in `<repo>/sdks/node`, `npm ci` (its build tools: napi-rs CLI, tsc), the
  native binding (`npm run build:native -- --release`, cargo) and the TypeScript
  (`npm run build`); then `npm install --no-save <repo>/sdks/node` in `drivers/node`, which
  links `node_modules/@boxlite-ai/boxlite` to the checkout (its `native/*.node` is the
  binding just built). Rebuilt when the checkout's source state differs from the recorded
  build or the link points elsewhere; `make setup` leaves a linked SDK alone, and the run
  summary names the SDK's source (`Config.sdks`).
"""

from __future__ import annotations

from lib.names import REPO_ROOT
from lib.stack.bootstrap import cloud
from lib.stack.bootstrap.context import Context

NODE_DRIVER_DIR = REPO_ROOT / "drivers" / "node"
NPM_QUIET = ("--no-audit", "--no-fund")


def node_sdk(ctx: Context) -> None:
    """The Node SDK from the checkout, linked into the harness's Node driver."""
    checkout = cloud.repo(ctx)
    sdk_dir = checkout / "sdks" / "node"
    state = cloud.source_state(ctx, checkout)
    installed = NODE_DRIVER_DIR / "node_modules" / "@boxlite-ai" / "boxlite"
    recorded = cloud.load_builds(ctx).get("node_sdk", {})
    linked = installed.is_symlink() and installed.resolve() == sdk_dir.resolve()
    label = f"checkout {state['sha'][:12]}{'+dirty' if state['dirty'] else ''}"
    if recorded.get("source") == state and linked:
        ctx.note(f"Node SDK from the checkout at {state['sha'][:12]} linked")
        ctx.facts["node_sdk"] = label
        return
    env = cloud.tool_env()
    ctx.run(["npm", "ci", *NPM_QUIET], "install the Node SDK's build tools", cwd=sdk_dir, env=env)
    ctx.run(
        ["npm", "run", "build:native", "--", "--release"],
        "build the Node SDK's native binding (napi-rs, cargo)",
        cwd=sdk_dir,
        env=env,
    )
    ctx.run(["npm", "run", "build"], "build the Node SDK's TypeScript", cwd=sdk_dir, env=env)
    ctx.run(
        ["npm", "install", "--no-save", *NPM_QUIET, str(sdk_dir)],
        "link the checkout's Node SDK into drivers/node",
        cwd=NODE_DRIVER_DIR,
        env=env,
    )
    cloud._record_build(ctx, "node_sdk", {"from": "checkout", "source": state})
    ctx.facts["node_sdk"] = label
