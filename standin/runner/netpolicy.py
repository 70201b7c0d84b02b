"""A box's egress policy: `allow_net` rules validated, and the firewall that enforces them.

The contract is upstream's (src/boxlite/src/net/: `NetworkBackendConfig.allow_net`,
`constants.rs`; apps/runner/pkg/boxlite/client.go `networkSpec`; PR boxlite-ai/boxlite#1106):
- `network.mode = "disabled"`: the box has a loopback device only (the runner starts no
  user-mode network for it at all, so there is nothing a policy could get wrong).
- enabled, empty `allow_net`: every destination is allowed.
- enabled, non-empty `allow_net`: only listed destinations are; a rule is a hostname, a
  `*.` wildcard, an IPv4 address or an IPv4 CIDR. DNS is not filtered.
- The host alias `192.168.127.254` (`host.boxlite.internal`) is NATed to the host's
  loopback. It is an ordinary destination: reachable with an empty list, and under a
  non-empty list only when the list names it (or a CIDR covering it). #1106 fixed the bug
  that exempted it; the `allow-net-alias-exempt` fault puts that bug back.
- The box's own `127.0.0.1` is the box's loopback, never the host's.

Stand-in mechanics (slirp4netns, see boxnet.py): the box's default gateway `10.0.2.2` is
slirp's door to the host's loopback. The ruleset DNATs the alias onto it and refuses any
other use of that door, then matches the allow-list against the *original* destination
(conntrack `--ctorigdst`), so the policy sees the alias, not the NAT target, as upstream's
filter does. Hostname and wildcard rules are accepted and admit nothing here: the stand-in
has no outside network to dial them on (cases only use host-local listeners).
The box gets no CAP_NET_ADMIN (sandbox.py), so it cannot change these rules.
"""

from __future__ import annotations

import ipaddress
import re

from standin.errors import ApiError

HOST_ALIAS_IP = "192.168.127.254"
HOST_ALIAS_NAME = "host.boxlite.internal"
SLIRP_GATEWAY = "10.0.2.2"  # slirp4netns: the host's loopback, as the box sees it
SLIRP_DNS = "10.0.2.3"
SLIRP_GUEST = "10.0.2.100"
MAX_RULES = 256
_HOST_RE = re.compile(r"^(\*\.)?([A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9-]+$")


def normalize_rules(rules: list[str]) -> list[str]:
    """Trim, drop empties (the API's mapper does the same), validate each; 400 on a bad one."""
    out: list[str] = []
    for raw in rules:
        rule = raw.strip()
        if not rule:
            continue
        if len(out) >= MAX_RULES:
            raise ApiError("invalid_argument", f"allow_net holds at most {MAX_RULES} rules")
        if rule_network(rule) is None and not _is_hostname(rule):
            raise ApiError(
                "invalid_argument",
                f"allow_net rule {rule!r} is not a hostname, *.wildcard, IPv4 address or CIDR",
            )
        out.append(rule)
    return out


def _is_hostname(rule: str) -> bool:
    return len(rule) <= 253 and bool(_HOST_RE.match(rule)) and not rule.replace(".", "").isdigit()


def rule_network(rule: str) -> ipaddress.IPv4Network | None:
    """The IPv4 network an IP/CIDR rule names; None for hostname rules (and non-IPv4)."""
    try:
        net = ipaddress.ip_network(rule, strict=False)
    except ValueError:
        return None
    return net if isinstance(net, ipaddress.IPv4Network) else None


def ruleset(allow_net: list[str], *, alias_exempt: bool = False) -> str:
    """iptables-restore input for the box's network namespace.

    `alias_exempt` is the fault (#1106): the host alias is accepted before the allow-list
    is consulted.
    """
    nets = [n for n in (rule_network(r) for r in allow_net) if n is not None]
    restricted = bool(allow_net)
    lines = [
        "*nat",
        ":PREROUTING ACCEPT [0:0]",
        ":INPUT ACCEPT [0:0]",
        ":OUTPUT ACCEPT [0:0]",
        ":POSTROUTING ACCEPT [0:0]",
        f"-A OUTPUT -d {HOST_ALIAS_IP}/32 -j DNAT --to-destination {SLIRP_GATEWAY}",
        "COMMIT",
        "*filter",
        ":INPUT ACCEPT [0:0]",
        ":FORWARD DROP [0:0]",
        ":OUTPUT ACCEPT [0:0]",
        "-A OUTPUT -o lo -j ACCEPT",
        "-A OUTPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT",
        # slirp's gateway is the host's loopback: only the alias may lead there.
        f"-A OUTPUT -d {SLIRP_GATEWAY}/32 -m conntrack ! --ctorigdst {HOST_ALIAS_IP}/32"
        " -j REJECT --reject-with icmp-port-unreachable",
        # DNS is not filtered (upstream: the allow-list governs destinations, not lookups).
        f"-A OUTPUT -d {SLIRP_DNS}/32 -p udp --dport 53 -j ACCEPT",
        f"-A OUTPUT -d {SLIRP_DNS}/32 -p tcp --dport 53 -j ACCEPT",
    ]
    if restricted:
        if alias_exempt:
            lines.append(f"-A OUTPUT -m conntrack --ctorigdst {HOST_ALIAS_IP}/32 -j ACCEPT")
        lines += [f"-A OUTPUT -m conntrack --ctorigdst {net} -j ACCEPT" for net in nets]
        # A refusal, not a silent drop: a denied connect fails at once, as gvproxy's does.
        lines += [
            "-A OUTPUT -p tcp -j REJECT --reject-with tcp-reset",
            "-A OUTPUT -j REJECT --reject-with icmp-admin-prohibited",
        ]
    lines.append("COMMIT")
    return "\n".join(lines) + "\n"


def etc_hosts(hostname: str) -> str:
    """The box's /etc/hosts: itself, localhost, and the host alias (upstream serves it by DNS;
    the record is always there, reaching it is what the policy decides)."""
    return (
        "127.0.0.1\tlocalhost\n"
        "::1\tlocalhost ip6-localhost ip6-loopback\n"
        f"127.0.1.1\t{hostname}\n"
        f"{HOST_ALIAS_IP}\t{HOST_ALIAS_NAME}\n"
    )
