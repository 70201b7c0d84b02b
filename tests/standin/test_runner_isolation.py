"""What a stand-in box is allowed to be: an unprivileged user namespace, a reduced capability
set, its own network with the allow_net firewall (issue 12 deliverable 8, issue 14 item 3).

Each property is checked from both sides where it can be: inside the box (what a case sees)
and on the host (what the box's processes and files really are).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import threading

import boxlite
import psutil
import pytest

from standin.errors import ApiError
from standin.faults import SPECS
from standin.runner import boxns, netpolicy
from standin.runner.sandbox import BOX_CAPS, UID_BASE
from tests.standin.runner_fixtures import BUSYBOX_REF, run

CAP_NUMBERS = {
    "chown": 0,
    "dac_override": 1,
    "fowner": 3,
    "fsetid": 4,
    "kill": 5,
    "setgid": 6,
    "setuid": 7,
    "setpcap": 8,
    "net_bind_service": 10,
    "net_raw": 13,
    "sys_chroot": 18,
    "mknod": 27,
    "audit_write": 29,
    "setfcap": 31,
}


def _status(text: str, key: str) -> int:
    line = next(ln for ln in text.splitlines() if ln.startswith(key + ":"))
    return int(line.split()[1], 16)


# --------------------------------------------------------------------------- units


def test_allow_net_rules_are_validated_and_trimmed():
    rules = [" 10.0.0.1 ", "", "192.168.0.0/16", "example.com", "*.example.org"]
    assert netpolicy.normalize_rules(rules) == [
        "10.0.0.1",
        "192.168.0.0/16",
        "example.com",
        "*.example.org",
    ]
    for bad in ("http://x", "a b", "1.2.3.4/99", "::1", "*"):
        with pytest.raises(ApiError) as err:
            netpolicy.normalize_rules([bad])
        assert err.value.code == "invalid_argument", bad


def test_ruleset_open_restricted_and_the_alias_fault():
    open_rules = netpolicy.ruleset([])
    assert "REJECT --reject-with tcp-reset" not in open_rules  # empty list: all allowed
    assert f"-d {netpolicy.HOST_ALIAS_IP}/32 -j DNAT" in open_rules
    sealed = netpolicy.ruleset(["203.0.113.7", "example.com"])
    assert "--ctorigdst 203.0.113.7/32 -j ACCEPT" in sealed
    assert f"--ctorigdst {netpolicy.HOST_ALIAS_IP}/32 -j ACCEPT" not in sealed
    assert sealed.rstrip().endswith("COMMIT")
    faulty = netpolicy.ruleset(["203.0.113.7"], alias_exempt=True)
    assert f"--ctorigdst {netpolicy.HOST_ALIAS_IP}/32 -j ACCEPT" in faulty
    assert SPECS["allow-net-alias-exempt"].issue == "boxlite-ai/boxlite#1106"


def test_boxns_parses_and_rebinds_only_idmapped_sources():
    base, paths, cmd = boxns.parse(
        ["--base", "9", "--idmap", "/r", "--", "bwrap", "--bind", "/r", "/"]
    )
    assert (base, paths, cmd) == (9, ["/r"], ["bwrap", "--bind", "/r", "/"])
    assert boxns.rebind(["--bind", "/r", "/", "--bind", "/o", "/o"], {"/r": "/s/0"}) == [
        "--bind",
        "/s/0",
        "/",
        "--bind",
        "/o",
        "/o",
    ]
    for bad in (["--base", "0", "--", "x"], ["--base", "1"], ["--what", "1", "--", "x"]):
        with pytest.raises(ValueError):
            boxns.parse(bad)


# --------------------------------------------------------------------------- privileges


async def test_box_root_is_root_inside_and_unprivileged_outside(runner, box, tmp_path):
    inside = await run(box, "sh", "-c", "id -u; cat /proc/self/uid_map; touch /made-by-root")
    lines = inside.stdout.split()
    assert lines[0] == "0", inside.stdout
    inner, outer, count = (int(x) for x in lines[1:4])
    assert (inner, count) == (0, boxns.ID_COUNT) and outer >= UID_BASE, inside.stdout
    # On the host, the box's processes are that unprivileged uid...
    pids = [p for p in psutil.process_iter(["uids", "cmdline"]) if p.info["uids"].real == outer]
    assert pids, f"no host process runs as the box's uid {outer}"
    # ...and what the box's root writes is root's file on disk (idmapped rootfs), so the
    # runner's own writes (uploads, /etc/hosts) need no ownership shifting.
    made = next(runner.state_dir.glob("boxes/*/rootfs/made-by-root"))
    assert made.stat().st_uid == 0


async def test_execs_get_the_reduced_capability_set(rt, box):
    root = await run(box, "cat", "/proc/self/status")
    expected = sum(1 << CAP_NUMBERS[c] for c in BOX_CAPS)
    assert _status(root.stdout, "CapEff") == expected, root.stdout
    assert _status(root.stdout, "CapBnd") == expected, root.stdout
    mount = await run(box, "sh", "-c", "mount -t tmpfs none /mnt; echo rc=$?")
    assert "rc=0" not in mount.stdout, f"box root could mount: {mount.stdout}"
    nobody_box = await rt.create(boxlite.BoxOptions(image=BUSYBOX_REF, user="65534:65534"))
    try:
        nobody = await run(nobody_box, "cat", "/proc/self/status")
        assert _status(nobody.stdout, "CapEff") == 0, nobody.stdout
    finally:
        await rt.remove(nobody_box.id, force=True)


async def test_a_box_cannot_see_or_signal_host_processes(box):
    marker = f"{os.getpid() % 1000}{id(box) % 100000:05d}"  # sleep's argument: a number
    host = await asyncio.create_subprocess_exec("sleep", f"300.{marker}")
    await asyncio.sleep(0)  # noqa: ASYNC115 - let it exec: its cmdline is the marker
    try:
        probe = await run(
            box,
            "sh",
            "-c",
            # The marker is split here, so only the host process's cmdline holds it whole.
            # Positive control: a box process holding the same kind of marker is found.
            f'sleep "301.{marker}" & c=$!; '
            f'for n in 300 301; do m="$n."; m="${{m}}{marker}"; '
            "for f in /proc/[0-9]*/cmdline; do "
            'tr "\\0" " " < "$f" 2>/dev/null | grep -qF "$m" && echo "HIT$n $f"; done; done; '
            'kill "$c"; '
            f"kill -TERM {host.pid} 2>/dev/null; echo kill=$?",
        )
        assert "HIT301" in probe.stdout, f"control: the search finds nothing: {probe.stdout}"
        assert "HIT300" not in probe.stdout, f"the box sees the host's process: {probe.stdout}"
        assert "kill=0" not in probe.stdout, f"the box signalled pid {host.pid}: {probe.stdout}"
        await asyncio.sleep(0)  # noqa: ASYNC115 - give a (wrongly) delivered signal its turn
        assert host.returncode is None and psutil.pid_exists(host.pid)
    finally:
        with contextlib.suppress(ProcessLookupError):
            host.kill()
        await host.wait()


# --------------------------------------------------------------------------- network


@contextlib.contextmanager
def _host_listener():
    """A loopback listener answering b'host-side\\n' to every connection; yields its port."""
    srv = socket.create_server(("127.0.0.1", 0))
    srv.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except TimeoutError:
                continue
            with conn:
                conn.sendall(b"host-side\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield srv.getsockname()[1]
    finally:
        stop.set()
        thread.join(5)
        srv.close()


async def _reaches(box, host: str, port: int) -> bool:
    out = await run(box, "sh", "-c", f"nc -w 5 {host} {port} </dev/null; true")
    return "host-side" in out.stdout


@pytest.mark.parametrize(
    "network, alias, loopback",
    [
        ({"mode": "enabled"}, True, False),
        ({"mode": "enabled", "allow_net": ["203.0.113.7"]}, False, False),
        ({"mode": "enabled", "allow_net": [netpolicy.HOST_ALIAS_IP]}, True, False),
        ({"mode": "disabled"}, False, False),
    ],
    ids=["open", "allow-list-without-alias", "allow-list-with-alias", "disabled"],
)
async def test_egress_policy(rt, network, alias, loopback):
    spec = boxlite.NetworkSpec(
        outbound=boxlite.OutboundNetworkSpec(
            mode=network["mode"], allow_net=network.get("allow_net", [])
        )
    )
    box = await rt.create(boxlite.BoxOptions(image=BUSYBOX_REF, network=spec))
    try:
        with _host_listener() as port:
            assert await _reaches(box, netpolicy.HOST_ALIAS_NAME, port) is alias
            assert await _reaches(box, "127.0.0.1", port) is loopback
    finally:
        await rt.remove(box.id, force=True)


async def test_the_alias_fault_lets_a_sealed_box_reach_the_host(runner_factory):
    faulty = runner_factory(faults=["allow-net-alias-exempt"]).sdk()
    spec = boxlite.NetworkSpec(
        outbound=boxlite.OutboundNetworkSpec(mode="enabled", allow_net=["203.0.113.7"])
    )
    box = await faulty.create(boxlite.BoxOptions(image=BUSYBOX_REF, network=spec))
    try:
        with _host_listener() as port:
            assert await _reaches(box, netpolicy.HOST_ALIAS_NAME, port)
    finally:
        await faulty.remove(box.id, force=True)


async def test_bad_allow_net_rule_is_400(runner):
    with runner.http() as http:
        bad = http.post(
            "/v1/boxes",
            json={"image": BUSYBOX_REF, "network": {"mode": "enabled", "allow_net": ["a b"]}},
        )
    assert bad.status_code == 400, bad.text


async def test_the_caps_fault_gives_a_default_box_every_capability(runner_factory):
    faulty = runner_factory(faults=["default-caps-all"]).sdk()
    box = await faulty.create(boxlite.BoxOptions(image=BUSYBOX_REF))
    try:
        status = (await run(box, "cat", "/proc/self/status")).stdout
        assert _status(status, "CapEff") & (1 << 21), status  # CAP_SYS_ADMIN
        assert _status(status, "CapEff") != sum(1 << CAP_NUMBERS[c] for c in BOX_CAPS)
    finally:
        await faulty.remove(box.id, force=True)
