"""How much CareWatch takes on this machine, against what a bare subscriber takes.

    python -m bench.throughput              # full: ~30 min on an idle 2-core machine
    python -m bench.throughput --quick      # ~5-7 min, for development
    python -m bench.throughput --only ceiling sustained --runs 1 --duration 20

Real mosquitto, real influxd, `python -m carewatch serve` as a child process, publishers in
their own processes (bench/loadgen.py: wearables' telemetry, QoS 1, a window of 1,000
un-acked messages each), all on loopback. Phases:

ceiling     a bare paho subscriber (bench/sink.py: counts and acks, subscribed like the
            service): the highest rate it keeps up with (as below, --ceiling-duration s).
sustained   the highest rate (a multiple of --step msg/s) at which the service keeps up
            for --duration s: the backlog (acked by the broker - committed by the service
            = broker queue + engine queue) and the spool flat, and afterwards every
            message committed, none rejected, every point in InfluxDB. A probe of short
            steps finds where to start; full steps go up or down from there.
latency     an alarm (a wearable's `fall`, unique ids and devices) every 100 ms under
            background telemetry: publish -> raised_at (engine clock), -> the alert row
            visible to a database reader (the commit), -> the MQTT alert topic, ->
            `change` on /api/alerts/stream, -> the webhook (the emergency policy's first
            step is a webhook target).
resources   10,000 devices at a fixed rate: CPU seconds per 1,000 messages
            (/proc/<pid>/stat) and peak RSS (VmHWM).
restart     --restart-devices (50,000): a first start, then per run: stop, --backlog
            (100,000) messages queued at the broker in the service's persistent session,
            start: time to /readyz 200, to the backlog committed, to the spool empty; then
            the resources window with 50,000 devices.
sites       one service watching a district: --sites-homes (50) nursing homes of
            --sites-home-devices (200) and --sites-beds (450) home beds of 8 devices
            (bench/district.py, a generated sites_dir), --sites-rate (1,000) msg/s over
            every device of every site: first start, peak RSS and CPU over a
            --sites-duration s window, falls of wearables of random sites -> the commit
            and -> /api/alerts/stream, --sites-restarts restarts to /readyz; then the
            demo home alone at the same rate, the same falls: side by side.

Figures are medians of `--runs` runs with min-max; targets are goals, printed next to
the figures, never asserted. The machine may be shared: each run records the CPU other
processes used meanwhile (`others_cpu`). Writes bench/results/<--name>.json; bench/plot.py
draws the latency plot from it.
"""

# One module per phase: ceiling.py, sustained.py (both through rates.py: one rate step and
# the search), latency.py, resources.py, restart.py, sites.py; stack.py the processes of a run,
# runs.py what the phases share, report.py the goals and the table, __main__.py the
# arguments and the JSON document. (This docstring is `--help`.)
