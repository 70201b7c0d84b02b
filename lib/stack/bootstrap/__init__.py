"""Bring a stack up, idempotently: `python -m lib.stack.bootstrap` (what `bootstrap.sh` calls).

Modules: `context` (the only way steps change the host, so `--dry-run` is the real plan),
`common` (packages, registry, secrets, env files, health, smoke), `standin` and `cloud`
(their own steps), `plan` (the order, `--only`, the report and summary).
"""
