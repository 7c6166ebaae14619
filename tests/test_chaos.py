"""Fault injection on real mosquitto, InfluxDB and `carewatch serve` (issue 6).

Each test runs a steady stream (events with distinct ids, telemetry with explicit device
timestamps, a few hundred msg/s; tests/chaos_support.py), staff acknowledging and
resolving alerts, a real webhook receiver, then one fault, and ends with an exact
reconciliation printed as a table: events sent vs event keys, alert occurrences and
InfluxDB event points; telemetry sent vs InfluxDB points (per device); alert transitions vs
`alert_change` points; notifications due (re-derived from the audit trail) vs the outbox vs
what the receiver got, each key once and in order; the alert topic. Nothing missing,
nothing doubled.

Short by default (CAREWATCH_CHAOS_SCALE=0.05, part of `make test`); `make chaos` runs the
issue's lengths (broker down 60 s, InfluxDB down 300 s). Results also go to
bench/results/chaos-<time>.json.
"""

from __future__ import annotations

import itertools
import time
from typing import Any

import orjson
import pytest

from alerting.defaults import default_rules
from alerting.notify.receiver import Receiver
from alerting.notify.sender import DeliveryError
from alerting.notify.worker import DeliveryWorker
from alerting.outbox import OutboxRow
from alerting.ruleset import Notify, RuleSet, Target
from ingest.broker import free_port
from ingest.lineproto import to_lines
from ingest.spool import KIND_ALERT
from tests.chaos_support import (
    EVENT_EVERY,
    RATE,
    SCALE,
    SECRET,
    TARGET,
    ChaosService,
    Check,
    HostClock,
    Outcome,
    Staff,
    Stream,
    ack_all,
    checkpoint,
    faketime_library,
    fill,
    free_bytes,
    mode,
    rules_yaml,
    scaled,
    served_time,
    settle,
    small_filesystem,
    summary,
    unescalated,
    write_results,
)
from tests.conftest import wait_until
from tests.engine_harness import Harness

pytestmark = pytest.mark.chaos
real = pytest.mark.integration  # starts real processes
OUTCOMES: list[Outcome] = []
SETTLE_S = 40 + 120 * SCALE  # a webhook retry backs off up to 60 s


def show(config: pytest.Config, text: str) -> None:
    """Print past pytest's capture: the tables are the point of `make chaos`."""
    capman = config.pluginmanager.getplugin("capturemanager")
    with capman.global_and_fixture_disabled():
        print(text, flush=True)


@pytest.fixture(scope="module", autouse=True)
def chaos_summary(request: pytest.FixtureRequest):
    yield
    if OUTCOMES:
        path = write_results(OUTCOMES)
        show(request.config, summary(OUTCOMES) + f"\n  results: {path}\n")


@pytest.fixture
def receiver():
    r = Receiver("127.0.0.1", free_port(), SECRET.encode()).start()
    yield r
    r.stop()


class Run:
    """One test's service, stream and staff; `finish` reconciles and reports."""

    def __init__(
        self,
        request: pytest.FixtureRequest,
        fault: str,
        service: ChaosService,
        influx: Any,
        receiver: Receiver,
        stream: Stream,
    ) -> None:
        self.request = request
        self.fault = fault
        self.service = service
        self.influx = influx
        self.receiver = receiver
        self.stream = stream
        self.staff: Staff | None = None
        self.t0 = time.monotonic()
        self.facts: dict[str, Any] = {}

    @classmethod
    def begin(
        cls,
        request: pytest.FixtureRequest,
        fault: str,
        tmp_path,
        broker,
        influx,
        receiver: Receiver,
        registry,
        tag: str,
        **kw: Any,
    ) -> Run:
        clock = kw.pop("clock", None)
        rate = kw.pop("rate", RATE)
        event_every = kw.pop("event_every", EVENT_EVERY)
        service = ChaosService(
            tmp_path / "cw", broker.url, influx.url if influx else None, receiver.port, **kw
        )
        if clock is not None:
            service.env.update(clock.env)
        try:
            service.start()
        except BaseException:
            service.stop()
            raise
        stream = Stream(broker.port, registry, tag, rate, event_every)
        run = cls(request, fault, service, influx, receiver, stream)
        stream.start()
        run.staff = Staff(service).start()
        return run

    def events_logged(self) -> int:
        return self.service.count(
            "SELECT count(*) FROM event_log WHERE key LIKE ?", f"id:{self.stream.tag}-%"
        )

    def finish(self, quiet: bool = False) -> Outcome:
        self.stream.stop()
        if self.staff is not None:
            self.staff.stop()
        if quiet:  # re-notification policies: acknowledge everything so the count settles
            self.facts["acknowledged at the end"] = ack_all(self.service)
        checks, took = settle(self.service, self.influx, self.receiver, self.stream, SETTLE_S)
        late = unescalated(self.service)
        checks.append(Check("calls/falls past their step, never escalated", 0, *[len(late)] * 2))
        self.facts.setdefault("messages sent", self.stream.sent)
        outcome = Outcome(
            self.fault,
            mode(),
            self.stream.rate,
            time.monotonic() - self.t0,
            took,
            checks,
            self.facts,
        )
        OUTCOMES.append(outcome)
        show(self.request.config, outcome.table())
        assert self.stream.errors == [], self.stream.errors
        detail = "".join(
            f"\nalert {i}: {self.service.read('SELECT * FROM alerts WHERE id = ?', i)}"
            f" audit {self.service.read('SELECT * FROM audit WHERE alert_id = ?', i)}"
            for i in late[:5]
        )
        assert outcome.ok, (
            outcome.table() + detail + "\n--- service log ---\n" + self.service.log()[-4000:]
        )
        return outcome

    def close(self) -> None:
        if self.staff is not None:
            self.staff.stop()
        self.stream.close()
        self.service.stop()


@real
def test_kill_9_repeatedly_under_a_steady_stream(
    request, tmp_path, broker, influx, receiver, registry
):
    kills = max(3, round(10 * SCALE))
    every = scaled(6, 2.5)
    run = Run.begin(
        request, f"kill -9 x{kills}", tmp_path, broker, influx, receiver, registry, "k9"
    )
    try:
        down = []
        for _ in range(kills):
            time.sleep(every)
            run.service.kill9()
            t = time.monotonic()
            time.sleep(0.3)  # messages pile up at the broker, un-acked
            run.service.start()  # /readyz: broker connected, store and engine healthy
            down.append(time.monotonic() - t)
        time.sleep(2)
        run.facts["kills"] = kills
        run.facts["down each (s)"] = f"{min(down):.1f}-{max(down):.1f}"
        run.finish()
    finally:
        run.close()


@real
def test_broker_restart_under_a_steady_stream(
    request, tmp_path, broker, influx, receiver, registry
):
    restarts = max(2, round(5 * SCALE))
    run = Run.begin(
        request, f"broker restart x{restarts}", tmp_path, broker, influx, receiver, registry, "br"
    )
    try:
        back = []
        for _ in range(restarts):
            time.sleep(scaled(10, 3))
            broker.stop()  # SIGTERM: mosquitto saves the sessions and their queues
            broker.start()  # same port, same persistence file
            t = time.monotonic()
            assert wait_until(lambda: (c := run.service.ready()) and c["broker"], 20)
            back.append(time.monotonic() - t)
        time.sleep(2)
        run.facts["restarts"] = restarts
        run.facts["service reconnected after (s)"] = f"{max(back):.1f} at most"
        run.finish()
    finally:
        run.close()


@real
def test_broker_down_for_a_minute(request, tmp_path, broker, influx, receiver, registry):
    down = scaled(60, 8)
    run = Run.begin(
        request, f"broker down {down:.0f} s", tmp_path, broker, influx, receiver, registry, "bd"
    )
    try:
        time.sleep(2)
        broker.stop()
        t = time.monotonic()
        sent = run.stream.sent
        assert wait_until(lambda: (c := run.service.ready()) is not None and not c["broker"], 5)
        time.sleep(max(0.0, down - (time.monotonic() - t)))
        run.facts["published while down (kept by the devices)"] = run.stream.sent - sent
        broker.start()
        assert wait_until(lambda: (c := run.service.ready()) and c["broker"], 20)
        run.facts["service reconnected after (s)"] = round(time.monotonic() - t - down, 1)
        time.sleep(2)
        alerts = run.service.get("/api/alerts", state="all", limit=5000).json()
        raised = [a for a in alerts if a["rule"] == "broker_disconnected"]
        run.facts["broker_disconnected alerts"] = len(raised)
        assert len(raised) == 1, "the outage (past the rule's 5 s) is one system alert"
        run.finish()
    finally:
        run.close()


@real
def test_influx_down_for_five_minutes(request, tmp_path, broker, influx, receiver, registry):
    down = scaled(300, 10)
    run = Run.begin(
        request, f"InfluxDB down {down:.0f} s", tmp_path, broker, influx, receiver, registry, "id"
    )
    try:
        time.sleep(2)
        influx.stop()
        t = time.monotonic()
        logged, delivered = run.events_logged(), len(receiver.received)
        assert wait_until(lambda: (c := run.service.ready()) is not None and not c["store"], 10)
        time.sleep(max(0.0, down - (time.monotonic() - t)))
        # alerting and notifications went on without the store; the spool kept the points
        spooled = run.service.count("SELECT count(*) FROM points")
        assert run.events_logged() > logged, "events were processed during the outage"
        assert len(receiver.received) > delivered, "notifications went out during the outage"
        assert spooled > 0
        run.facts["spool rows at the end of the outage"] = spooled
        influx.start()  # same port, same data
        t = time.monotonic()
        assert wait_until(lambda: (c := run.service.ready()) and c["store"], 60)
        run.facts["store healthy again after (s)"] = round(time.monotonic() - t, 1)
        if down >= 70:  # the rule waits 60 s
            alerts = run.service.get("/api/alerts", state="all", limit=5000).json()
            assert [a for a in alerts if a["rule"] == "store_unreachable"]
            run.facts["store_unreachable alert"] = "raised"
        run.finish()
    finally:
        run.close()


@real
def test_disk_full_holds_messages_unacked_then_processes_them(
    request, tmp_path, broker, influx, receiver, registry
):
    """The disk near its limit: the database (spool, alerts, outbox) on a 64 MB tmpfs filled
    to the last 256 KB. The engine cannot commit: it holds its batch and acks nothing; once
    space is back it goes on by itself. The second time the service is killed -9 while
    the disk is full: what it held un-acked comes again from the broker."""
    hold = scaled(30, 4)
    with small_filesystem(tmp_path / "small", 64) as small:
        run = Run.begin(
            request,
            f"disk full {hold:.0f} s x2",
            tmp_path,
            broker,
            influx,
            receiver,
            registry,
            "df",
            db_dir=small,
        )
        try:
            for round_ in (1, 2):
                time.sleep(2)
                checkpoint(run.service.db)  # a short WAL: the next commits must grow it
                filler = fill(small, 256 * 1024)
                t = time.monotonic()
                failing = wait_until(
                    lambda: (c := run.service.ready()) is not None and not c["engine"], 30
                )
                assert failing, "the engine never hit the full disk"
                run.facts[f"full after (s) #{round_}"] = round(time.monotonic() - t, 1)
                logged, sent = run.events_logged(), len(run.stream.events)
                time.sleep(hold)
                # a small transaction may still fit where a rolled-back one wrote its WAL
                # frames; the stream's batches do not
                held = len(run.stream.events) - sent
                got = run.events_logged() - logged
                assert got < held / 2, "the full disk held the stream back"
                run.facts[f"events committed while full #{round_}"] = f"{got} of {held}"
                run.facts[f"free while held #{round_}"] = f"{free_bytes(small) // 1024} KiB"
                if round_ == 2:
                    run.service.kill9()
                filler.unlink()
                t = time.monotonic()
                if round_ == 2:
                    run.service.start()
                assert wait_until(lambda: (c := run.service.ready()) and c["engine"], 30)
                run.facts[f"engine healthy again after (s) #{round_}"] = round(
                    time.monotonic() - t, 1
                )
            time.sleep(2)
            run.finish()
        finally:
            run.close()


@real
def test_webhook_receiver_down_then_failing_then_back(
    request, tmp_path, broker, influx, receiver, registry
):
    down = scaled(60, 6)
    run = Run.begin(
        request,
        f"receiver down+503 {down:.0f} s",
        tmp_path,
        broker,
        influx,
        receiver,
        registry,
        "rx",
    )

    def head_attempts() -> int:
        rows = run.service.read(
            "SELECT attempts FROM outbox WHERE target = ? AND state = 'pending'"
            " ORDER BY id LIMIT 1",
            TARGET,
        )
        return int(rows[0][0]) if rows else 0

    try:
        time.sleep(2)
        receiver.stop()  # connection refused
        t = time.monotonic()
        assert wait_until(lambda: head_attempts() >= 2, 30), "retried while down"
        time.sleep(max(0.0, down / 2 - (time.monotonic() - t)))
        receiver.fail_with = 503  # up, but failing
        receiver.start()
        t = time.monotonic()
        assert wait_until(lambda: receiver.failed >= 1, 70), "retried while failing"
        time.sleep(max(0.0, down / 2 - (time.monotonic() - t)))
        pending = run.service.count(
            "SELECT count(*) FROM outbox WHERE target = ? AND state = 'pending'", TARGET
        )
        assert pending > 0
        run.facts["pending at recovery"] = pending
        run.facts["answered 503"] = receiver.failed
        receiver.fail_with = None
        t = time.monotonic()
        assert wait_until(
            lambda: (
                run.service.count(
                    "SELECT count(*) FROM outbox WHERE target = ? AND state = 'pending'", TARGET
                )
                < pending // 2
            ),
            75,
        )
        run.facts["backlog halved after (s)"] = round(time.monotonic() - t, 1)
        run.finish()
    finally:
        run.close()


# ----------------------------------------------------------------------------- the clock


def _offline_raised(service: ChaosService) -> int:
    return service.count(
        "SELECT count(*) FROM audit u JOIN alerts a ON a.id = u.alert_id"
        " WHERE a.rule = 'device_offline' AND u.action = 'raise'"
    )


def _jumped(service: ChaosService, offset_s: float) -> bool:
    seen = served_time(service)
    return seen is not None and abs(seen - (time.time() + offset_s)) < 5


@real
def test_clock_jumps_forwards_and_backwards(request, tmp_path, broker, influx, receiver, registry):
    """The host's wall clock (only the service's, through libfaketime) jumps 2 h forwards,
    then 3 h back (1 h behind real time), then forwards to the real time again, under
    the stream. Forwards: every device is past its supervision deadline (offline alerts,
    expected) and clears on its next message; escalations do not catch up every missed
    re-notification at once. Backwards: no crash, notifications keep flowing, new timers
    and the self-watch still fire. Then the usual exact reconciliation."""
    lib = faketime_library()
    if lib is None:
        pytest.skip("libfaketime is not installed (Debian package faketime)")
    clock = HostClock(tmp_path / "clock", lib)
    rules = rules_yaml(receiver.port, repeat_s=60)
    # libfaketime takes a lock on every clock read: at 300 msg/s the engine's transactions
    # grow and the webhook worker starves on SQLite's write lock (faketime only); fewer
    # events keep the notifications (and the test) short
    run = Run.begin(
        request,
        "clock +2h, -3h, +1h",
        tmp_path,
        broker,
        influx,
        receiver,
        registry,
        "ck",
        clock=clock,
        rules=rules,
        rate=min(RATE, 120),
        event_every=20,
    )
    devices = len(registry)
    try:
        assert wait_until(lambda: _jumped(run.service, 0), 5), "on the real time at first"
        time.sleep(3)
        unacked = len(run.service.get("/api/alerts", state="active_unack", limit=5000).json())

        # forwards 2 h: every supervision deadline has passed
        phases = [time.monotonic()]
        clock.set("+2h")
        assert wait_until(lambda: _jumped(run.service, 7200), 5)
        assert wait_until(lambda: _offline_raised(run.service) >= devices, 10)
        assert run.service.proc is not None and run.service.proc.poll() is None

        def offline_active() -> int:
            return len(
                [
                    a
                    for a in run.service.get("/api/alerts", limit=5000).json()
                    if a["rule"] == "device_offline" and a["state"].startswith("active")
                ]
            )

        assert wait_until(lambda: offline_active() == 0, 10), "talking devices clear"
        renotified = run.service.read(
            "SELECT alert_id, count(*) FROM audit WHERE action = 'renotify' GROUP BY alert_id"
        )
        most = max((n for _, n in renotified), default=0)
        run.facts["+2h: offline raised"] = _offline_raised(run.service)
        run.facts["+2h: most re-notifications of one alert"] = most
        assert most <= 2, f"{most} re-notifications of one alert at once after the jump"

        # backwards 3 h (1 h behind the real time)
        phases.append(time.monotonic())
        clock.set("-1h")
        assert wait_until(lambda: _jumped(run.service, -3600), 5)
        got, logged = len(receiver.received), run.events_logged()
        assert wait_until(lambda: len(receiver.received) >= got + 5, 15), (
            "notifications stopped after the clock went back"
        )
        assert wait_until(lambda: run.events_logged() >= logged + 5, 10)
        # a new alert raised now escalates on time (its timer is from the new clock)
        sos = orjson.dumps({"event": "sos", "id": "probe-sos-1"})
        run.stream.publish_one("w-313-2", "event", sos)

        def probe_escalated() -> bool:
            return (
                run.service.count(
                    "SELECT count(*) FROM audit u JOIN alerts a ON a.id = u.alert_id"
                    " WHERE a.rule = 'sos' AND u.action = 'escalate' AND u.note = ?",
                    TARGET,
                )
                == 1
            )

        assert wait_until(probe_escalated, 10), "a timer armed after the jump fired"
        # the self-watch still looks every second: a broker outage becomes an alert. All
        # in flight is acked first: a redelivered reading whose timestamp was replaced for
        # clock skew would be a second point (docs/chaos.md, known limits)
        run.stream.pause()
        assert run.stream.wait_acked(10)
        time.sleep(1)
        broker.stop()
        time.sleep(7)  # the rule waits 5 s
        broker.start()
        run.stream.resume()
        assert wait_until(lambda: (c := run.service.ready()) and c["broker"], 20)
        alerts = run.service.get("/api/alerts", state="all", limit=5000).json()
        watched = [a for a in alerts if a["rule"] == "broker_disconnected"]
        run.facts["-3h: broker outage seen by the watchdog"] = bool(watched)
        assert watched, "the watchdog stopped after the clock went back"

        # forwards to the real time again
        phases.append(time.monotonic())
        clock.set("+0")
        assert wait_until(lambda: _jumped(run.service, 0), 5)
        time.sleep(2)
        assert run.service.proc is not None and run.service.proc.poll() is None
        phases.append(time.monotonic())
        run.facts["unacked calls/falls before the jumps"] = unacked
        run.facts["phases +2h/-3h/+1h (s)"] = "/".join(
            f"{b - a:.0f}" for a, b in itertools.pairwise(phases)
        )
        run.finish(quiet=True)
    finally:
        run.close()


@real
@pytest.mark.xfail(
    strict=True,
    reason="timers are wall-clock instants: one armed before the clock steps back fires "
    "that much later (docs/chaos.md, known limits)",
)
def test_a_timer_armed_before_the_clock_steps_back_still_fires_on_time(
    request, tmp_path, broker, receiver, registry
):
    lib = faketime_library()
    if lib is None:
        pytest.skip("libfaketime is not installed (Debian package faketime)")
    clock = HostClock(tmp_path / "clock", lib)
    probe = f"{{steps: [{{after_s: 0, notify: duty_screen}}, {{after_s: 6, notify: {TARGET}}}]}}"
    rules = rules_yaml(
        receiver.port,
        policies=f"    probe: {probe}\n",
        extra="overrides:\n  - {rule: sos, set: {escalation: probe}}\n",
    )
    service = ChaosService(tmp_path / "cw", broker.url, None, receiver.port, rules=rules)
    service.env.update(clock.env)
    service.start()
    stream = Stream(broker.port, registry, "tb")
    try:
        sos = orjson.dumps({"event": "sos", "id": "tb-1"})
        stream.publish_one("w-101-1", "event", sos)
        assert wait_until(lambda: service.count("SELECT count(*) FROM alerts") == 1, 5)
        raised = time.monotonic()
        clock.set("-1h")  # the supervisor step is due 6 s after the raise
        assert wait_until(lambda: _jumped(service, -3600), 5)
        if time.monotonic() - raised > 4.5:
            pytest.skip("the clock step took too long to show; the probe proves nothing")
        assert receiver.wait_for(1, 8), "the supervisor step came due 1 h late"
    finally:
        stream.close()
        service.stop()


# ------------------------------------------ the fixes the faults above led to, in small


def test_a_very_late_escalation_renotifies_once_not_once_per_missed_period(tmp_path, registry):
    """Two hours without the engine (down, or the clock jumped forwards): the emergency
    policy (re-notify every 120 s) sends one re-notification, not 60 at once."""
    h = Harness(tmp_path / "cw.db", registry)
    h.send("w-101-1", "event", '{"event":"fall","id":"f1"}')
    h.tick(600)  # duty screen, supervisor, director
    t0 = h.clock.now_ms()
    h.tick(2 * 3600)
    late = [c.at - t0 for c in h.changes if c.action == "renotify"]
    assert late == [7_200_000]
    h.tick(119)
    assert len([c for c in h.changes if c.action == "renotify"]) == 1
    h.tick(1)  # back on the policy's schedule: 600 s + k * 120 s after the raise
    assert [c.at - t0 for c in h.changes if c.action == "renotify"] == [7_200_000, 7_320_000]


class _Failing:
    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.sent = 0

    def send(self, row: OutboxRow) -> int:
        self.sent += 1
        if self.failures:
            self.failures -= 1
            raise DeliveryError("HTTP 503", 503)
        return 200


def test_a_notification_in_backoff_is_not_held_back_when_the_clock_steps_back(tmp_path, registry):
    target = Target(url="http://127.0.0.1:9/hook", secret_env="X")
    rules = RuleSet(default_rules(), notify=Notify(targets={"supervisor": target}))
    h = Harness(tmp_path / "cw.db", registry, rules=rules)
    h.send("w-101-1", "event", '{"event":"fall","id":"f1"}')
    h.tick(60)  # the supervisor step
    sender = _Failing(1)
    w = DeliveryWorker("supervisor", sender, lambda: h.conn, h.clock, 3600)
    assert 0 < (w.deliver_once(h.conn) or 0) <= 1000  # failed once: backoff up to 1 s
    h.clock.advance(-3600)  # the host's clock is stepped back an hour
    assert w.deliver_once(h.conn) == 0 and sender.sent == 2  # tried again at once
    state = h.conn.execute("SELECT state FROM outbox WHERE target = 'supervisor'").fetchall()
    assert state == [("delivered",)]


def test_repeats_of_one_alert_in_one_batch_are_distinct_alert_change_points():
    """A backlog after an outage puts several events of one device into one batch: each
    repeat is its own point; the same spool row sent twice is still the same point."""

    def row(rid: int, occurrences: int) -> tuple[int, int, str, str, str, int, str]:
        data = {"alert_id": 7, "rule": "call", "severity": "high", "action": "repeat"}
        data |= {"state": "active_unack", "occurrences": occurrences}
        return (rid, 1_000, "sunrise", "cb-101-1", "", KIND_ALERT, orjson.dumps(data).decode())

    lines = to_lines([row(1, 2), row(2, 3), row(1, 2)], lambda s, d: ("", ""))
    times = [line.rsplit(" ", 1)[1] for line in lines]
    assert times[0] != times[1] and times[0] == times[2]
