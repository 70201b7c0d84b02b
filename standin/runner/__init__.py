"""The stand-in box runner: `python -m standin runner`.

It plays the part of BoxLite's runner (and of `boxlite serve`): it answers the box protocol of
the SDK without a routing prefix, and runs every box as a bubblewrap sandbox over
its own copy of an image rootfs. Modules, one job each:

    config      command line, token, start-up refusals
    main        `main(argv)`: start the aiohttp server, stop boxes on shutdown
    app         routes, auth and error envelopes (HTTP side)
    service     box and execution bookkeeping (the logic behind the routes)
    boxes       box records: wire JSON and persistence in the state dir
    sandbox     one box's bwrap init and the nsenter command line that enters it
    executions  one exec: process, pty or pipes, output backlog, signals, timeout
    attach      the attach WebSocket (frames, pings, single client, replay)
    files       copy_in / copy_out tar transfers
    imagesource image references -> rootfs templates (local dirs or the registry)
    rootpath    path resolution confined to a box rootfs
    bench       exec round-trip and create timings through the real SDK (not a test)
"""
