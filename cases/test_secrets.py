"""Secrets over REST: the guest holds the placeholder, the value reaches no box and no log.

What upstream documents (`boxlite.Secret`; src/boxlite/src/runtime/options.rs): the guest
sees `BOXLITE_SECRET_{NAME}=<BOXLITE_SECRET:{name}>` and uses the placeholder in outbound
HTTPS requests; the host-side egress proxy swaps in the real value for the secret's `hosts`
only, so the value never enters the VM. Ported from upstream's
scripts/test/e2e/cases/test_secret_no_leak.py (the placeholder is the positive control that
makes "no value" mean anything: POL-303 found `secrets=` silently dropped over REST) and
apps/e2e/cases/test_pol257_secrets_rest_path.py (the value must not come back from a box
read either, POL-257). The logs of both hops are read for the run's lines and must not carry
the value (the API log is where a create body would land).

Stand-in faults: `secrets-dropped` (no placeholder), `secret-value-in-guest` (the variable
carries the value), `secret-logged` (the API logs it). Substitution on the wire needs the
egress proxy, which the stand-in does not have: that case is not applicable there.
"""

from __future__ import annotations

import secrets as _secrets

import boxlite
import pytest
import pytest_asyncio

from lib.harness.case_helpers import describe, sh
from lib.harness.plugin import build_sources

NAME = "e2e_probe"
PLACEHOLDER = f"<BOXLITE_SECRET:{NAME}>"
ENV_KEY = f"BOXLITE_SECRET_{NAME.upper()}"
SENTINEL = "E2E-SECRET-DUMP-COMPLETE"


@pytest.fixture
def value() -> str:
    """Fabricated per test, never a real credential, so naming it in a message leaks nothing."""
    return f"e2e-not-a-real-key-{_secrets.token_hex(12)}"


@pytest_asyncio.fixture(loop_scope="session")
async def secret_box(box_factory, value):
    return await box_factory(secrets=[boxlite.Secret(name=NAME, value=value, hosts=["x.test"])])


@pytest.mark.catches("secrets-dropped", "secret-value-in-guest")
async def test_the_guest_gets_the_placeholder(secret_box):
    out = await sh(secret_box, f'printf "%s\\n" "${ENV_KEY}"')
    assert out.exit_code == 0, out
    assert out.stdout.strip() == PLACEHOLDER, (
        f"{ENV_KEY} should hold the placeholder; secrets= was dropped or rewritten: {out}"
    )


@pytest.mark.catches("secret-value-in-guest", "secrets-dropped")
async def test_no_guest_surface_holds_the_value(secret_box, value, e2e_config):
    dump = await sh(
        secret_box,
        "env; tr '\\0' '\\n' < /proc/1/environ; tr '\\0' '\\n' < /proc/self/environ; "
        "cat /etc/environment 2>/dev/null; ls -a /run /etc 2>/dev/null; "
        f"echo {SENTINEL}",
    )
    assert SENTINEL in dump.stdout, f"the dump never arrived, so it proves nothing: {dump}"
    assert PLACEHOLDER in dump.stdout, f"no placeholder in the guest environment: {dump}"
    assert value not in dump.stdout + dump.stderr, "the secret VALUE is readable in the guest"
    assert e2e_config.api_key not in dump.stdout, "the API key is readable in the guest"


async def test_a_box_read_never_echoes_the_value(secret_box, value, api):
    read = await api.get(f"/boxes/{secret_box.id}")
    assert read.status_code == 200, describe(read)
    assert value not in read.text, "the secret value came back from GET /boxes/{id}"
    listed = await api.get("/boxes")
    assert value not in listed.text, "the secret value came back from GET /boxes"


# Its positive control (the placeholder is in the box) also trips on the two guest faults.
@pytest.mark.catches("secret-logged", "secrets-dropped", "secret-value-in-guest")
async def test_no_log_line_carries_the_value(box_factory, value, e2e_config):
    sources = build_sources(e2e_config)
    marks = {hop: source.cursor() for hop, source in sources.items()}
    made = await box_factory(secrets=[boxlite.Secret(name=NAME, value=value)])
    out = await sh(made, f'test "${ENV_KEY}" = "{PLACEHOLDER}"')
    assert out.exit_code == 0, out
    for hop, source in sources.items():
        lines, _ = source.read(marks[hop])
        # Positive control: this hop logged the box, so its absence of the value is evidence.
        assert any(made.id in line for line in lines), f"{hop} log has no line for {made.id}"
        leaked = [line for line in lines if value in line]
        assert not leaked, f"{len(leaked)} {hop} log line(s) carry the secret value"


@pytest.mark.needs("cloud")
async def test_the_proxy_substitutes_on_the_wire(box_factory, value):
    """Only the egress proxy can do this; the stand-in has none (not applicable there).

    Upstream's apps/e2e/cases/test_secrets_injection.py: the box sends the placeholder to a
    host the secret binds, the echo says which of the two arrived.
    """
    host = "httpbingo.org"
    made = await box_factory(secrets=[boxlite.Secret(name=NAME, value=value, hosts=[host])])
    control = await sh(made, "wget -q -T 20 -O /dev/null https://example.com/")
    if control.exit_code != 0:
        pytest.skip(f"not applicable: the box has no egress at all ({control.stderr[:200]!r})")
    echo = await sh(
        made,
        f"wget -q -T 20 -O - --header 'X-E2E-Probe: {PLACEHOLDER}' https://{host}/headers",
    )
    assert echo.exit_code == 0, echo
    assert PLACEHOLDER not in echo.stdout, "the placeholder reached the host unsubstituted"
    assert value in echo.stdout, "the substituted value never arrived"
