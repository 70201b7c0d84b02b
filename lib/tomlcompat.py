"""One import point for a TOML parser: `tomllib` on Python 3.11+, its `tomli` backport on 3.10
(Ubuntu 22.04's Python), which has the same API."""

import sys

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

__all__ = ["tomllib"]
