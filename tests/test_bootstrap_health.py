"""Health probes and the /v1/me smoke against small real HTTP servers (no stack needed)."""

from __future__ import annotations

import http.server
import json
import threading
import time

import pytest

from lib.layout import Layout
from lib.stack import health
from lib.stack.bootstrap import common
from lib.stack.bootstrap.context import Context, Options, StepError
from lib.stack.private_stack import free_ports
from lib.stack.services import SupervisorManager


@pytest.fixture
def server():
    """A loopback HTTP server whose answers the test scripts: {path: (status, body)}."""
    routes: dict[str, tuple[int, dict]] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's naming
            status, body = routes.get(self.path, (404, {"error": "nope"}))
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    httpd.routes = routes
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def test_wait_http_returns_once_healthy(server):
    server.routes["/ok"] = (200, {"status": "ok"})
    url = f"http://127.0.0.1:{server.server_port}/ok"
    assert health.wait_http("thing", url, deadline=5).json() == {"status": "ok"}


def test_failure_names_the_last_answer_and_dumps_the_log_tail(server, tmp_path):
    server.routes["/bad"] = (503, {"status": "error", "why": "runner unreachable"})
    log = tmp_path / "api.log"
    log.write_text("".join(f"line {i}\n" for i in range(100)))
    url = f"http://127.0.0.1:{server.server_port}/bad"
    t0 = time.monotonic()
    with pytest.raises(health.HealthError) as err:
        health.wait_http("API", url, deadline=0.5, log=health.LogRef(path=log))
    assert time.monotonic() - t0 < 5
    text = str(err.value)
    assert "HTTP 503" in text and "runner unreachable" in text
    assert f"--- last lines of {log} ---" in text
    assert "line 99" in text and "line 59" not in text  # the tail, bounded


def test_a_dead_process_ends_the_wait_early():
    (port,) = free_ports(1)
    t0 = time.monotonic()
    with pytest.raises(health.HealthError, match="its process is not running"):
        health.wait_http("runner", f"http://127.0.0.1:{port}/", deadline=60, alive=lambda: False)
    assert time.monotonic() - t0 < 10


def test_unreadable_log_is_said_not_raised(tmp_path):
    assert "unreadable" in health.LogRef(path=tmp_path / "missing.log").tail()


def _ctx(port: int, root) -> Context:
    layout = Layout(root=root, api_port=port)
    ctx = Context(layout, Options("standin"), SupervisorManager(layout))
    ctx._secrets = {"ADMIN_API_KEY": "k-123", "DEFAULT_RUNNER_API_KEY": "r"}
    return ctx


def test_smoke_401_gives_the_wipe_hint(server, tmp_path):
    server.routes["/api/v1/me"] = (401, {"statusCode": 401, "message": "Unauthorized"})
    ctx = _ctx(server.server_port, tmp_path)
    ctx.layout.env_file.parent.mkdir(parents=True, exist_ok=True)
    ctx.layout.env_file.write_text("ADMIN_API_KEY=k-123\nSSH_GATEWAY_API_KEY=s\n")
    with pytest.raises(StepError) as err:
        common.smoke(ctx)
    assert "teardown.sh --wipe-data" in str(err.value)
    assert "k-123" not in str(err.value)


def test_smoke_401_without_the_ssh_gateway_key_says_so_not_wipe(server, tmp_path):
    # api-key.strategy.ts getOrThrow('sshGateway.apiKey'): every key is 401 without it, and
    # wiping the data would not help (issue 13 B6).
    server.routes["/api/v1/me"] = (401, {"statusCode": 401, "message": "Unauthorized"})
    ctx = _ctx(server.server_port, tmp_path)
    ctx.layout.env_file.parent.mkdir(parents=True, exist_ok=True)
    ctx.layout.env_file.write_text("ADMIN_API_KEY=k-123\n")
    with pytest.raises(StepError) as err:
        common.smoke(ctx)
    assert "SSH_GATEWAY_API_KEY" in str(err.value) and "do not wipe" in str(err.value)
    assert "--wipe-data" not in str(err.value)


def test_smoke_needs_a_principal(server, tmp_path):
    server.routes["/api/v1/me"] = (200, {"hello": "world"})
    with pytest.raises(StepError, match="without a principal"):
        common.smoke(_ctx(server.server_port, tmp_path))
    server.routes["/api/v1/me"] = (200, {"sub": "admin", "path_prefix": "org-9"})
    ctx = _ctx(server.server_port, tmp_path)
    common.smoke(ctx)
    assert ctx.facts["path_prefix"] == "org-9"
