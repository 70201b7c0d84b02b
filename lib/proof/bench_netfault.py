"""What the netfault proxy costs: exec round trip through it (`transparent`) vs straight to the API.

Not a test: it prints numbers. Against the stack the harness is configured for (the same
config as a case run: profile, URL, key, prefix), it creates one box and times the same exec
round trip (`exec("echo", ["hi"])` + drain + `wait()`, standin.runner.bench's definition) on
that box through two runtimes, one straight to the API and one through a `transparent`
proxy, interleaved direct/proxy/direct/proxy so drift hits both sides alike; then p50 and p90
of each and their ratios. The goal is at most 1.10x at p50.

    .venv/bin/python -m lib.proof.bench_netfault [--execs 60] [--faults transparent]
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys

import boxlite

from lib.errors import HarnessError
from lib.harness.api import AUTO_DELETE_S, AUTO_STOP_S
from lib.harness.config import load
from lib.harness.netfault import faults as nf
from lib.harness.netfault.proxy import NetFaultProxy
from standin.benchutil import percentile
from standin.runner.bench import exec_round_trip


def _runtime(url: str, key: str, prefix: str) -> boxlite.Boxlite:
    options = boxlite.BoxliteRestOptions(
        url=url, credential=boxlite.ApiKeyCredential(key), path_prefix=prefix or None
    )
    return boxlite.Boxlite.rest(options)


async def measure(execs: int, words: list[str]) -> list[str]:
    """Time `execs` round trips per side, interleaved; the lines to print."""
    cfg = load()
    plan = nf.parse(words)
    direct = _runtime(cfg.api_url, cfg.api_key, cfg.prefix)
    name = f"e2e-bench-{secrets.token_hex(4)}"
    options = boxlite.BoxOptions(image=cfg.image, auto_stop=AUTO_STOP_S, auto_delete=AUTO_DELETE_S)
    box = await direct.create(options, name=name)
    samples: dict[str, list[float]] = {"direct": [], "proxy": []}
    try:
        with NetFaultProxy(cfg.api_url, plan) as proxy:
            proxied = _runtime(proxy.url, cfg.api_key, cfg.prefix)
            via = await proxied.get(box.id)
            assert via is not None, "the box is not visible through the proxy"
            sides = {"direct": box, "proxy": via}
            for side in sides.values():  # warm both paths (connections, first exec)
                await exec_round_trip(side)
            for _ in range(execs):
                for label, side in sides.items():
                    samples[label].append(await exec_round_trip(side))
            traffic = proxy.summary()
            proxied.close()
    finally:
        await direct.remove(box.id, force=True)
        direct.close()
    lines = [f"stack: {cfg.stack}  api: {cfg.api_url}  proxy faults: {plan.label}"]
    for label, ms in ((k, [s * 1000 for s in v]) for k, v in samples.items()):
        p50, p90 = percentile(ms, 50), percentile(ms, 90)
        lines.append(f"{label:<7} n={len(ms):<4} p50={p50:7.2f} ms  p90={p90:7.2f} ms")
    d, p = samples["direct"], samples["proxy"]
    r50 = percentile(p, 50) / percentile(d, 50)
    r90 = percentile(p, 90) / percentile(d, 90)
    lines.append(f"ratio proxy/direct: p50 {r50:.3f}x  p90 {r90:.3f}x  (goal p50 <= 1.10x)")
    lines.append(traffic)
    return lines


def main(argv: list[str] | None = None) -> int:
    """`python -m lib.proof.bench_netfault`: print the numbers."""
    ap = argparse.ArgumentParser(prog="python -m lib.proof.bench_netfault", description=__doc__)
    ap.add_argument("--execs", type=int, default=60, help="round trips per side (default 60)")
    ap.add_argument(
        "--faults", default="transparent", help="proxy fault words, ';'-separated (transparent)"
    )
    args = ap.parse_args(argv)
    if args.execs < 1:
        print("bench_netfault: --execs must be >= 1", file=sys.stderr)
        return 2
    try:
        words = [w for w in args.faults.split(";") if w.strip()]
        nf.parse(words)
        lines = asyncio.run(measure(args.execs, words))
    except HarnessError as exc:
        print(f"bench_netfault: {exc}", file=sys.stderr)
        return 2
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
