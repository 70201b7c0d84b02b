"""The stand-in BoxLite stack: a box runner and an API in front of it.

Real BoxLite boxes need a KVM host. The stand-in speaks the same REST protocol to the real,
unmodified `boxlite` SDK, runs each box as a bubblewrap sandbox over an OCI image rootfs, and
can inject known production bugs by name (`standin.faults`), so the harness can be proven on
any Linux machine.
"""
