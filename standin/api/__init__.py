"""The stand-in API: the control plane the SDK talks to in front of the stand-in runner.

Production puts a NestJS API (`:3000/api`) between the SDK and the runner: it checks the API
key against the org in the path prefix, owns the box records, validates sizes against the
org's per-box quota, resolves images through registered snapshots, and proxies exec, attach,
files and metrics to the runner with the runner's own token. Bugs live on that hop (validation
gaps, quota clamping, error mapping), so the stand-in keeps the same shape and writes its own
log, which path verification reads beside the runner's.

Routes (all under `/api`; every route but `GET /api/health` needs a bearer key: the admin
key, or an org-scoped key minted through `POST /api/api-keys`; see `keys`):

    GET    /api/health                          {"status":"ok"}, no auth
    GET    /api/health/ready                    runner reachable with its token? 200 / 503
    GET    /api/v1/me                           principal; path_prefix = the admin org id
    GET    /api/v1/config                       {"capabilities": {... all false}}
    GET    /api/v1/_standin/faults              API + runner faults, each with `component`
    *      /api/v1/{ORG}/boxes...               box protocol (the SDK's endpoints); ORG may
                                                hold slashes (`org-123/team-a`)
    GET|PATCH /api/admin/organizations/{ORG}/quota   per-box quota (upstream admin route)
    PATCH  /api/organizations/{ORG}/quota       same, 204 (the older upstream route)
    POST   /api/snapshots                       register {name, imageName, cpu, memory, disk}
    GET    /api/snapshots[/{id or name}]        state pending -> active | error (+errorReason)
    DELETE /api/snapshots/{id or name}
    POST   /api/organizations                   a second org (admin key)
    POST|GET /api/api-keys, DELETE /api/api-keys/{name}   org-scoped keys (keys.py)

Owned box routes (create/list/get/HEAD/start/stop/remove) live in `boxes`; the rest of the box
protocol is streamed through `proxy`. See `docs/architecture.md` for the contract.
"""
