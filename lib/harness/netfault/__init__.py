"""The harness's network-fault layer: a loopback HTTP/WS proxy between the SDK and the API.

`faults` parses fault words and profiles into a `FaultPlan`; `proxy.NetFaultProxy` applies
one in front of any stack's API (see each module's docstring).
"""
