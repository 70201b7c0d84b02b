"""Pure units of the runner: rootfs-confined paths, UTF-8 frame splitting, users, records."""

from __future__ import annotations

import json
import os

import pytest

from standin.errors import ApiError
from standin.runner.boxes import BoxStore, record_from_request
from standin.runner.executions import split_utf8_tail
from standin.runner.rootpath import PathLoop, find_executable, resolve_in_root
from standin.runner.users import resolve_user


@pytest.fixture
def root(tmp_path):
    r = tmp_path / "rootfs"
    (r / "bin").mkdir(parents=True)
    (r / "usr/lib").mkdir(parents=True)
    (r / "etc").mkdir()
    (r / "bin/busybox").write_text("#!")
    (r / "bin/busybox").chmod(0o755)
    (r / "bin/sh").symlink_to("busybox")
    (r / "bin/abs").symlink_to("/bin/busybox")  # absolute: means the rootfs's /bin
    (r / "bin/noexec").write_text("data")
    (r / "lib").symlink_to("usr/lib")
    (r / "escape").symlink_to("../../../../etc")  # must clamp at the rootfs
    (r / "loop").symlink_to("loop")
    return r


def test_absolute_links_resolve_inside_the_root(root):
    assert resolve_in_root(root, "/bin/abs") == root / "bin/busybox"
    assert resolve_in_root(root, "/lib/x") == root / "usr/lib/x"


def test_dotdot_and_links_never_leave_the_root(root):
    assert resolve_in_root(root, "/../../etc/passwd") == root / "etc/passwd"
    assert resolve_in_root(root, "/escape/passwd") == root / "etc/passwd"


def test_missing_components_are_appended_and_loops_are_errors(root):
    assert resolve_in_root(root, "/new/dir/file") == root / "new/dir/file"
    assert resolve_in_root(root, "/bin/sh", follow_last=False) == root / "bin/sh"
    with pytest.raises(PathLoop):
        resolve_in_root(root, "/loop/x")


def test_find_executable_follows_path_and_keeps_the_link_name(root):
    assert find_executable(root, "sh", "/usr/bin:/bin") == "/bin/sh"
    assert find_executable(root, "/bin/abs", "") == "/bin/abs"
    assert find_executable(root, "noexec", "/bin") is None
    assert find_executable(root, "missing", "/bin") is None
    assert find_executable(root, "../bin/sh", "", cwd="/etc") == "/etc/../bin/sh"


@pytest.mark.parametrize(
    "data, complete, tail",
    [
        (b"plain", b"plain", b""),
        ("a€".encode(), "a€".encode(), b""),
        ("a€".encode()[:-1], b"a", "€".encode()[:-1]),
        ("a€".encode()[:-2], b"a", "€".encode()[:1]),
        ("😀".encode()[:3], b"", "😀".encode()[:3]),
        (b"\xff\xfe", b"\xff\xfe", b""),  # not UTF-8: nothing is held back
        (b"", b"", b""),
    ],
)
def test_split_utf8_tail_holds_back_only_an_incomplete_character(data, complete, tail):
    assert split_utf8_tail(data) == (complete, tail)


def test_users_resolve_from_the_box_passwd(root):
    (root / "etc/passwd").write_text(
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
    )
    (root / "etc/group").write_text("root:x:0:\nnobody:x:65534:\nstaff:x:50:\n")
    assert resolve_user(root, None) == resolve_user(root, "root")
    assert resolve_user(root, None).home == "/root"
    assert resolve_user(root, "nobody").uid == 65534
    assert resolve_user(root, "nobody:staff").gid == 50
    assert (resolve_user(root, "1234:99").uid, resolve_user(root, "1234:99").gid) == (1234, 99)
    with pytest.raises(ApiError) as caught:
        resolve_user(root, "ghost")
    assert caught.value.code == "invalid_argument"


def test_create_request_defaults_and_legacy_or_nested_network():
    record = record_from_request({"image": "x", "network": {"mode": "enabled"}}, "rb1")
    assert (record.cpus, record.memory_mib, record.network, record.auto_resume) == (
        1,
        512,
        "enabled",
        False,
    )
    nested = record_from_request(
        {"image": "x", "network": {"outbound": {"mode": "disabled"}, "inbound": {}}}, "rb2"
    )
    assert nested.network == "disabled"
    wire = nested.wire()
    assert wire["box_id"] == "rb2" and wire["labels"] == {} and wire["status"] == "configured"


@pytest.mark.parametrize(
    "body",
    [
        [],
        {},
        {"image": "x", "cpus": True},
        {"image": "x", "env": {"A": 1}},
        {"image": "x", "working_dir": "relative"},
        {"image": "x", "name": "a/b"},
        {"image": "x", "cmd": "not-a-list"},
    ],
)
def test_bad_create_requests_are_invalid_argument(body):
    with pytest.raises(ApiError) as caught:
        record_from_request(body, "rb1")
    assert caught.value.code == "invalid_argument"


def test_box_records_persist_0600_and_reload(tmp_path):
    store = BoxStore(tmp_path)
    record = record_from_request({"image": "x", "env": {"SECRETISH": "v"}}, "rb9")
    store.box_dir("rb9").mkdir()
    store.save(record)
    path = store.box_dir("rb9") / "box.json"
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert json.loads(path.read_text())["env"] == {"SECRETISH": "v"}
    (tmp_path / "boxes/broken").mkdir()
    (tmp_path / "boxes/broken/box.json").write_text("{half")
    assert [r.id for r in store.load_all()] == ["rb9"]
    with pytest.raises(ValueError):
        store.box_dir("../evil")
