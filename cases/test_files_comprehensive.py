"""copy_in / copy_out over REST: the edges of the tar stream through API and runner.

Port of upstream's apps/e2e/cases/test_files_comprehensive.py and test_files_io.py (the
bytes-over-the-wire surface where the REST path can diverge from the local runtime):
a 4 MiB file both ways by sha256 (chunked transfer through the API proxy), every byte value,
empty files, odd names, a deep tree, symlinks kept as links, the executable bit, overwrite,
a missing source as a typed NotFoundError, and the REST backend's refusal of
`copy_in(overwrite=False)` (the upload protocol cannot express skip-if-exists, so the SDK
refuses it client-side instead of silently clobbering, boxlite-ai/boxlite#691's contract:
the guest content must be unchanged).

Paths live under /root/e2e-files: the box's rootfs disk on both stacks (upstream moved off
/tmp, a tmpfs in the VM that copy does not see).
"""

from __future__ import annotations

import hashlib
import os

import boxlite
import pytest

from lib.harness.case_helpers import assert_typed, run, sh

BASE = "/root/e2e-files"
ODD_NAMES = ["with space.txt", "ünïcödé-名前.txt", "quote'and\"dq.txt", "semi;colon&amp.txt"]


async def _prepare(box) -> None:
    out = await sh(box, f"mkdir -p {BASE}")
    assert out.exit_code == 0, out


async def _guest_sha(box, path: str) -> str:
    out = await run(box, "sha256sum", path)
    assert out.exit_code == 0, out
    return out.stdout.split()[0]


@pytest.mark.catches("files-stream-truncated")
async def test_a_4mib_file_round_trips_by_hash(box, tmp_path):
    await _prepare(box)
    made = await sh(box, f"dd if=/dev/urandom of={BASE}/big bs=4096 count=1024 2>/dev/null && sync")
    assert made.exit_code == 0, made
    guest = await _guest_sha(box, f"{BASE}/big")
    out = tmp_path / "big"
    await box.copy_out(f"{BASE}/big", str(out))
    assert out.stat().st_size == 4 * 1024 * 1024
    assert hashlib.sha256(out.read_bytes()).hexdigest() == guest, "copy_out corrupted 4 MiB"
    # And back in under another name: the upload leg of the same proxy.
    await box.copy_in(str(out), f"{BASE}/big-back")
    assert await _guest_sha(box, f"{BASE}/big-back") == guest, "copy_in corrupted 4 MiB"


async def test_every_byte_value_survives_copy_in(box, tmp_path):
    await _prepare(box)
    blob = bytes(range(256)) * 64
    src = tmp_path / "allbytes.bin"
    src.write_bytes(blob)
    await box.copy_in(str(src), f"{BASE}/allbytes.bin")
    assert await _guest_sha(box, f"{BASE}/allbytes.bin") == hashlib.sha256(blob).hexdigest()


async def test_empty_files_round_trip_both_ways(box, tmp_path):
    await _prepare(box)
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    await box.copy_in(str(empty), f"{BASE}/empty.txt")
    wc = await run(box, "wc", "-c", f"{BASE}/empty.txt")
    assert wc.exit_code == 0 and wc.stdout.split()[0] == "0", wc
    touched = await run(box, "touch", f"{BASE}/zero.bin")
    assert touched.exit_code == 0, touched
    out = tmp_path / "zero.bin"
    await box.copy_out(f"{BASE}/zero.bin", str(out))
    assert out.exists() and out.stat().st_size == 0


async def test_odd_names_arrive_byte_exact(box, tmp_path):
    await _prepare(box)
    src = tmp_path / "odd"
    src.mkdir()
    for name in ODD_NAMES:
        (src / name).write_text(f"content of {name}\n", encoding="utf-8")
    await box.copy_in(str(src), f"{BASE}/odd")
    # Raw bytes of each name (ls would escape the non-ASCII ones in the C locale).
    listing = await sh(box, f"for f in {BASE}/odd/*; do printf '%s\\0' \"${{f##*/}}\"; done")
    assert listing.exit_code == 0, listing
    assert sorted(filter(None, listing.stdout.split("\0"))) == sorted(ODD_NAMES), listing
    back = tmp_path / "back"
    await box.copy_out(f"{BASE}/odd", str(back))
    got = {p.name: p.read_text(encoding="utf-8") for p in back.rglob("*") if p.is_file()}
    assert got == {n: f"content of {n}\n" for n in ODD_NAMES}


async def test_a_deep_tree_arrives_whole(box, tmp_path):
    await _prepare(box)
    root = tmp_path / "a"
    deep = root / "b" / "c" / "d" / "e" / "f" / "g"
    deep.mkdir(parents=True)
    (deep / "leaf.txt").write_text("deep-leaf\n")
    (root / "top.txt").write_text("top\n")
    (root / "b" / "c" / "mid.txt").write_text("mid\n")
    await box.copy_in(str(root), f"{BASE}/nested")
    found = await sh(box, f"cd {BASE}/nested && find . -type f | sort")
    assert found.exit_code == 0, found
    assert found.stdout.split() == ["./b/c/d/e/f/g/leaf.txt", "./b/c/mid.txt", "./top.txt"]
    leaf = await run(box, "cat", f"{BASE}/nested/b/c/d/e/f/g/leaf.txt")
    assert leaf.stdout == "deep-leaf\n", leaf


async def test_symlinks_stay_links_both_ways(box, tmp_path):
    await _prepare(box)
    tree = tmp_path / "links"
    tree.mkdir()
    (tree / "real.txt").write_text("real\n")
    os.symlink("real.txt", tree / "link.txt")
    await box.copy_in(str(tree), f"{BASE}/links")
    target = await run(box, "readlink", f"{BASE}/links/link.txt")
    assert (target.exit_code, target.stdout.strip()) == (0, "real.txt"), target
    out = tmp_path / "out"
    await box.copy_out(f"{BASE}/links", str(out))
    links = [p for p in out.rglob("link.txt")]
    assert len(links) == 1 and links[0].is_symlink(), list(out.rglob("*"))
    assert os.readlink(links[0]) == "real.txt"


async def test_the_executable_bit_survives(box, tmp_path):
    await _prepare(box)
    script = tmp_path / "run.sh"
    script.write_text("#!/bin/sh\necho EXECUTED\n")
    script.chmod(0o755)
    await box.copy_in(str(script), f"{BASE}/run.sh")
    out = await run(box, f"{BASE}/run.sh")
    assert (out.exit_code, out.stdout) == (0, "EXECUTED\n"), out
    await sh(box, f"printf x > {BASE}/plain && chmod 640 {BASE}/plain")
    back = tmp_path / "plain"
    await box.copy_out(f"{BASE}/plain", str(back))
    assert back.stat().st_mode & 0o777 == 0o640, oct(back.stat().st_mode)


async def test_copy_in_replaces_an_existing_file(box, tmp_path):
    await _prepare(box)
    src = tmp_path / "data.txt"
    src.write_text("original\n")
    await box.copy_in(str(src), f"{BASE}/data.txt")
    src.write_text("replaced\n")
    await box.copy_in(str(src), f"{BASE}/data.txt", copy_options=boxlite.CopyOptions())
    out = await run(box, "cat", f"{BASE}/data.txt")
    assert out.stdout == "replaced\n", out


async def test_copy_in_without_overwrite_leaves_the_guest_unchanged(box, tmp_path):
    await _prepare(box)
    seeded = await sh(box, f"echo guest-original > {BASE}/v.txt")
    assert seeded.exit_code == 0, seeded
    src = tmp_path / "v.txt"
    src.write_text("host-replacement\n")
    try:
        await box.copy_in(
            str(src), f"{BASE}/v.txt", copy_options=boxlite.CopyOptions(overwrite=False)
        )
    except boxlite.BoxliteError as exc:
        assert_typed(exc, boxlite.UnsupportedError, boxlite.AlreadyExistsError)
    out = await run(box, "cat", f"{BASE}/v.txt")
    assert out.stdout == "guest-original\n", f"overwrite=False replaced the guest file: {out}"


async def test_copy_out_of_a_missing_path_is_not_found(box, tmp_path):
    with pytest.raises(boxlite.BoxliteError) as info:
        await box.copy_out(f"{BASE}/does-not-exist.bin", str(tmp_path / "out"))
    assert_typed(info.value, boxlite.NotFoundError)
    assert not (tmp_path / "out").exists(), "a failed copy_out left a file behind"


async def test_files_land_side_by_side_in_one_directory(box, tmp_path):
    await _prepare(box)
    for name in ("alpha.txt", "bravo.txt", "charlie.txt"):
        (tmp_path / name).write_text(f"content-{name}\n")
        await box.copy_in(str(tmp_path / name), f"{BASE}/multi/{name}")
    out = await sh(box, f"cat {BASE}/multi/*.txt")
    assert sorted(out.stdout.splitlines()) == [
        "content-alpha.txt",
        "content-bravo.txt",
        "content-charlie.txt",
    ], out
