"""standin.atomicfile: the one atomic-replace helper of lib/ and standin/."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from standin import atomicfile


@pytest.mark.parametrize("data", ["text\n", b"bytes\n"])
def test_write_private_is_0600_whatever_the_umask(tmp_path: Path, data) -> None:
    path = tmp_path / "f"
    path.write_text("old")
    path.chmod(0o644)
    old = os.umask(0o277)  # would make a plain 0600 create 0400
    try:
        atomicfile.write_private(path, data, sync_dir=isinstance(data, bytes))
    finally:
        os.umask(old)
    assert path.read_bytes() == (data if isinstance(data, bytes) else data.encode())
    assert path.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["f"]


def test_write_private_failure_keeps_the_old_file(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "f"
    path.write_text("old")

    def boom(*_a, **_k):
        raise OSError("disk full")

    monkeypatch.setattr("standin.atomicfile.os.replace", boom)
    with pytest.raises(OSError, match="disk full"):
        atomicfile.write_private(path, "new")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["f"]  # no temp file left behind


def test_write_if_changed_writes_only_a_difference(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "unit.conf"
    assert atomicfile.write_if_changed(path, "a\n") is True  # parent created
    assert atomicfile.write_if_changed(path, "a\n") is False
    assert atomicfile.write_if_changed(path, "b\n") is True
    assert path.read_text() == "b\n"
    assert [p.name for p in path.parent.iterdir()] == ["unit.conf"]
