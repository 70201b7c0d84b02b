"""Every error class the harness defines derives from `lib.errors.HarnessError`.

So an entry point (or a test) can tell "refused on purpose, with a message for the user"
from a bug: the check imports every module of lib/ and looks at the exception classes each
defines (warnings, and signals raised as BaseException like two_sided's Interrupted, are
not errors).
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import lib
from lib.errors import HarnessError


def _lib_exception_classes() -> dict[str, type[Exception]]:
    found = {}
    for info in pkgutil.walk_packages(lib.__path__, "lib."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            if (
                inspect.isclass(obj)
                and issubclass(obj, Exception)
                and not issubclass(obj, Warning)
                and obj.__module__ == info.name
            ):
                found[f"{info.name}.{name}"] = obj
    return found


def test_every_lib_error_is_a_harness_error():
    classes = _lib_exception_classes()
    assert len(classes) >= 18, sorted(classes)  # the walk found the modules
    strays = sorted(n for n, c in classes.items() if not issubclass(c, HarnessError))
    assert strays == [], "derive these from lib.errors.HarnessError"
