"""Realistic multi-step sessions over REST on the stack's default (minimal) image.

The subjects of upstream's apps/e2e/cases/test_real_world.py that need nothing beyond a
POSIX userland: write a script and run it with arguments, a data pipeline over a file the
box wrote, upload -> process -> download, start and kill a background process, set file
modes, read disk and memory. Each case is a small session rather than one parameter. The
steps that need python, git or curl are in test_real_world.py, on the `tools` image.
"""

from __future__ import annotations

from lib.harness.case_helpers import run, sh

WORK = "/root/e2e-work"


async def _workdir(box) -> None:
    out = await sh(box, f"mkdir -p {WORK}")
    assert out.exit_code == 0, out


async def test_write_a_shell_script_and_run_it_with_arguments(box):
    await _workdir(box)
    written = await sh(
        box,
        f"cat > {WORK}/greet.sh << 'EOF'\n"
        "#!/bin/sh\n"
        'NAME="${1:-World}"\n'
        'echo "Hello, ${NAME}! args=$#"\n'
        'exit "${2:-0}"\n'
        "EOF\n"
        f"chmod +x {WORK}/greet.sh",
    )
    assert written.exit_code == 0, written
    ok = await run(box, f"{WORK}/greet.sh", "BoxliteUser")
    assert (ok.exit_code, ok.stdout) == (0, "Hello, BoxliteUser! args=1\n"), ok
    failing = await run(box, f"{WORK}/greet.sh", "x", "7")
    assert failing.exit_code == 7, f"the script's exit status did not come back: {failing}"


async def test_a_data_pipeline_over_a_file_the_box_wrote(box):
    await _workdir(box)
    made = await sh(
        box, f"printf 'name,score\\nAlice,85\\nBob,92\\nCharlie,78\\nDiana,95\\n' > {WORK}/s.csv"
    )
    assert made.exit_code == 0, made
    avg = await sh(
        box,
        "awk -F, 'NR>1 {sum+=$2; n++} END {printf \"avg=%.1f n=%d\\n\", sum/n, n}' "
        f"{WORK}/s.csv",
    )
    assert avg.stdout == "avg=87.5 n=4\n", avg
    top = await sh(box, f"tail -n +2 {WORK}/s.csv | sort -t, -k2 -rn | head -1")
    assert top.stdout == "Diana,95\n", top


async def test_upload_process_download(box, tmp_path):
    await _workdir(box)
    src = tmp_path / "input.txt"
    src.write_text("the quick brown fox\njumps over the lazy dog\n")
    await box.copy_in(str(src), f"{WORK}/input.txt")
    processed = await sh(
        box,
        f"tr '[:lower:]' '[:upper:]' < {WORK}/input.txt > {WORK}/upper.txt && "
        f"wc -w < {WORK}/input.txt | tr -d ' ' > {WORK}/count.txt",
    )
    assert processed.exit_code == 0, processed
    await box.copy_out(f"{WORK}/upper.txt", str(tmp_path / "upper.txt"))
    await box.copy_out(f"{WORK}/count.txt", str(tmp_path / "count.txt"))
    assert (tmp_path / "upper.txt").read_text() == "THE QUICK BROWN FOX\nJUMPS OVER THE LAZY DOG\n"
    assert (tmp_path / "count.txt").read_text().strip() == "9"


async def test_start_and_kill_a_background_process(box):
    out = await sh(
        box,
        "sleep 999 & SPID=$!; kill $SPID; wait $SPID 2>/dev/null; "
        "if kill -0 $SPID 2>/dev/null; then echo ALIVE; else echo KILLED; fi",
    )
    assert out.stdout == "KILLED\n", out
    ps = await run(box, "ps")
    assert ps.exit_code == 0 and "PID" in ps.stdout.upper(), ps


async def test_file_modes_are_what_the_user_set(box):
    await _workdir(box)
    out = await sh(
        box,
        f"echo secret > {WORK}/private.txt && chmod 600 {WORK}/private.txt && "
        f"echo public > {WORK}/public.txt && chmod 644 {WORK}/public.txt && "
        f"stat -c '%a %n' {WORK}/private.txt {WORK}/public.txt",
    )
    assert out.stdout.split("\n")[:2] == [
        f"600 {WORK}/private.txt",
        f"644 {WORK}/public.txt",
    ], out


async def test_disk_and_memory_diagnostics(box):
    out = await sh(box, "df -h / && free -m")
    assert out.exit_code == 0, out
    assert "Filesystem" in out.stdout and "Mem" in out.stdout, out
