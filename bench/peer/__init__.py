"""CareWatch and the Node-RED peer, driven alike, side by side (issue 18, point 1).

    python -m bench.peer                                  # 3 runs, ~20 s steps
    python -m bench.peer --runs 1 --duration 10 --alarms 50   # development: a few minutes
    make bench-peer PEER_ARGS="--runs 1" [PEER_DIR=...]

Each run drives one system after the other, each on its own fresh stack:
CareWatch = its own mosquitto + influxd on free ports + `carewatch serve` (bench.servers,
a site of --devices wearables w-0..); the peer = mosquitto 21883, influxd 28086, Node-RED
21880 started and stopped by the peer's start_stack.sh / stop_stack.sh (PEER_DIR, default
../shared/peers/nodered; install.sh runs first, it is idempotent). Both post alarms to ONE
webhook receiver (bench/peer/hook.py, its own process on the peer's HOOK_PORT 29090).
Both get the same load: bench/loadgen.py publisher processes (raw MQTT 3.1.1, QoS 1,
wearables' JSON readings with a numeric `ts` in ms: the flow takes every other scalar key
as a field), the same fall payloads and rates, the same criteria.

sustained   --from, +--step, ... --max msg/s for --duration s each, stopping at the first
            step not kept up with: kept up = the publishers achieved the offered rate
            (within 3 %) and within --catch-up (5) s of the last publish every reading is
            a point in InfluxDB (Node-RED: db `peer` dropped and recreated per step).
            One publisher process up to 10,000 msg/s, two above. A search stopped by
            the harness (the system never fell behind up to --max, 60,000, or the
            publishers fell short) is counted apart: its figure is a lower bound.
            Peak RSS: VmHWM of the service / Node-RED process at the end, and the
            largest VmRSS sampled.
latency     at each --loads msg/s of background telemetry: --alarms falls, one every
            --alarm-interval s, each from its own wearable (new wearables per phase:
            CareWatch latches a fall per wearable); publish -> webhook arrival, both
            CLOCK_MONOTONIC; p50 / p99 / max.
kill        --kill-alarms falls at --kill-rate/s under --kill-load msg/s: kill -9 of
            carewatch serve / Node-RED at --kill-at s, restarted --kill-down s later
            (CareWatch on the same data dir and broker, so its persistent session gets the
            queued messages back); then until all arrived or --quiet s without arrivals.
            lost = wearables never alerted; doubled = a wearable alerted as two alerts
            (CareWatch: two alert ids; Node-RED has no alert identity: any second POST);
            repeated = the same CareWatch alert delivered again with the same
            Idempotency-Key (at-least-once resend; a receiver drops it by that key).

Figures are medians of --runs runs with [min-max]. Writes bench/results/peer-<time>.json
and prints one table. The machine may be shared: steps record others' CPU.
Not compared: each system keeps its own broker config (the peer's mosquitto.conf and
CareWatch's ingest.broker options); alarm latency is to the first POST only.
"""

# hook.py the receiver; systems.py the interface and CareWatch, nodered.py the peer;
# sustained.py the rate steps; alarms.py latency and kill -9; report.py the table;
# __main__.py the arguments, the runs and the document. (This docstring is `--help`.)
