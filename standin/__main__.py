"""`python -m standin COMMAND ...` (runner, api, image, tools-image, registry): the entry point."""

from __future__ import annotations

import importlib
import sys

COMMANDS = {
    "runner": ("standin.runner.main", "run the stand-in box runner"),
    "api": ("standin.api.main", "run the stand-in API in front of a runner"),
    "image": ("standin.images", "build / push / pull the stand-in OCI image"),
    "tools-image": ("standin.toolsimage", "build (cached) / push the e2e/tools image"),
    "registry": ("standin.registry", "write the config for / run the local OCI registry"),
}


def usage() -> str:
    lines = ["usage: python -m standin COMMAND [ARGS]", "", "commands:"]
    lines += [f"  {name:<9} {desc}" for name, (_, desc) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if not argv or argv[0] in {"-h", "--help"}:
        print(usage())
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"standin: unknown command {name!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[name][0])
    return int(module.main(rest) or 0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
