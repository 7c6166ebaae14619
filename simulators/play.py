"""Playing scenarios against a running service: the simulated home plays the devices'
happenings, this runner plays the operator's actions through the service's API at their
times, then reads the service's alerts and their audit trails and has simulators/judge.py
judge them. A scenario on the site's clock first waits until the clock, in the site's time
zone, reads the scenario's start.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from devices.ports import Clock
from devices.registry import Registry
from simulators import hazard_play as hz
from simulators import judge as jg
from simulators.home import SimulatedHome
from simulators.models import Step
from simulators.scenario import Entry, Loaded, clock_s, problems

SETTLE_S = 1.5  # after the last expectation, how long to look for alerts that must not come
MAX_CLOCK_WAIT_S = 120.0  # how long a scenario on the site's clock waits for its start
LATE_START_S = 5.0  # a site clock already this far past the start still plays


class AlertSource:
    """A running service as the runner sees it: its alerts, an alert's audit trail, and the
    operator's actions (the token needs the duty role for those)."""

    def __init__(self, url: str, token: str | None = None) -> None:
        self._url = url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}

    def _get(self, path: str, **params: str | int) -> Any:
        r = httpx.get(f"{self._url}{path}", params=params, headers=self._headers, timeout=10)
        r.raise_for_status()
        return r.json()

    def alerts(self, state: str = "all") -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._get("/api/alerts", state=state, limit=5000)
        return result

    def history(self, alert_id: str) -> list[dict[str, Any]]:
        """The alert's audit trail, oldest first (`at` as ISO time)."""
        rows: list[dict[str, Any]] = self._get(f"/api/alerts/{alert_id}").get("history", [])
        return rows

    def deliveries(self, alert_id: str) -> list[dict[str, Any]]:
        """The alert's outbox rows (`GET /api/notifications`): key, target, recipient..."""
        rows: list[dict[str, Any]] = self._get("/api/notifications", alert_id=alert_id, limit=1000)
        return rows

    def post(self, path: str, body: dict[str, Any]) -> httpx.Response:
        """POST a JSON body with the runner's token."""
        return httpx.post(f"{self._url}{path}", json=body, headers=self._headers, timeout=10)

    def register(self) -> hz.HazardApi:
        """The hazard register through this service (simulators/hazard_play.py)."""
        return hz.HazardApi(self._get, self.post)

    def act(self, alert_id: str, action: str, body: dict[str, Any]) -> httpx.Response:
        """POST /api/alerts/{id}/{action} (ack, resolve, outcome, contact)."""
        return httpx.post(
            f"{self._url}/api/alerts/{alert_id}/{action}",
            json=body,
            headers=self._headers,
            timeout=10,
        )


def site_clock_wait_s(now_ms: int, start: str, timezone: str) -> float:
    """Seconds until the site's local clock (IANA `timezone`) next reads `start`, negative
    when it read it less than an hour ago (the run is late by that much)."""
    local = datetime.fromtimestamp(now_ms / 1000, ZoneInfo(timezone))
    now_s = local.hour * 3600 + local.minute * 60 + local.second + local.microsecond / 1e6
    wait = (clock_s(start) - now_s) % 86400
    return wait - 86400 if wait > 86400 - 3600 else wait


def _wait_for_site_clock(
    scenarios: Sequence[Loaded], registry: Registry, clock: Clock, say: Callable[[str], None]
) -> None:
    on_clock = [s for s in scenarios if s.scenario.site_clock]
    if not on_clock:
        return
    starts = {s.scenario.start for s in on_clock}
    if len(starts) > 1 or len(on_clock) != len(scenarios):
        raise ValueError("scenarios on the site's clock play alone, or with the same start")
    start = starts.pop()
    tz = registry.site.timezone
    if tz is None:
        raise ValueError("site_clock needs the site file's `timezone`")
    wait = site_clock_wait_s(clock.now_ms(), start, tz)
    if wait < -LATE_START_S or wait > MAX_CLOCK_WAIT_S:
        now = datetime.fromtimestamp(clock.now_ms() / 1000, ZoneInfo(tz)).strftime("%H:%M:%S")
        raise ValueError(
            f"the site's clock reads {now} ({tz}), the scenario starts at {start}: run the"
            " service and the simulator on a clock set just before it (docs/simulator.md,"
            " `carewatch simulate --clock-env`)"
        )
    if wait > 0:
        say(f"waiting {wait:.1f} s for {start} on the site's clock ({tz})")
        time.sleep(wait)


def _open_alert(check: AlertSource, e: Entry) -> dict[str, Any] | None:
    """The newest open alert of the entry's rule (and device, if it names one)."""
    mine = [
        a
        for a in check.alerts("open")
        if a["rule"] == e.rule and (e.device is None or a["device_id"] == e.device)
    ]
    return max(mine, key=lambda a: jg.ms(a["raised_at"]) or 0) if mine else None


def _operate(check: AlertSource, loaded: Loaded, e: Entry, at_s: float) -> tuple[str, str]:
    """Play an operator's action; (a note for the report, an error or '')."""
    assert e.operator is not None
    what = f"{e.operator} on {e.rule}" + (f" of {e.device}" if e.device else "")
    a = _open_alert(check, e)
    if a is None:
        return "", f"{loaded.name}: {what} at +{at_s:g}s: no open {e.rule} alert"
    r = check.act(a["id"], e.operator, {"by": e.by, **e.with_})
    if r.status_code >= 300:
        return "", f"{loaded.name}: {what} at +{at_s:g}s: HTTP {r.status_code} {r.text[:200]}"
    body = " ".join(f"{k}={v}" for k, v in e.with_.items())
    return f"+{at_s:g}s {e.by}: {what} (alert {a['id']}) {body}".rstrip(), ""


def run(
    scenarios: Sequence[Loaded],
    registry: Registry,
    mqtt_url: str,
    clock: Clock,
    *,
    speed: float | None = None,
    check: AlertSource | None = None,
    prefix: str = "carewatch/v1",
    background: bool = True,
    loss: float = 0.0,
    seed: int = 1,
    linger_s: float = 0.0,
    say: Callable[[str], None] = print,
) -> list[jg.Report]:
    """Play the scenarios together (each from the start of the run) in one simulated home;
    with `check`, play the operators' actions and wait for every expected alert and step
    (or its deadline) and judge them."""
    bad = [p for s in scenarios for p in problems(s, registry)]
    if any(e.operator or e.hazard for s in scenarios for e in s.scenario.timeline) and (
        check is None
    ):
        bad.append("operator actions and hazard steps need the service: --check-url")
    if bad:
        raise ValueError("\n".join(bad))
    speed = speed or (scenarios[0].scenario.speed if scenarios else 1.0)
    if any(s.scenario.site_clock for s in scenarios):
        speed = 1.0
    tagged: list[tuple[int, Step]] = [(i, st) for i, s in enumerate(scenarios) for st in s.steps()]
    steps = [st for _, st in tagged]
    quiet_home = not background or not all(s.scenario.background for s in scenarios)
    # the rest of the timeline (operators' actions, marks): played here, in time order
    others = sorted(
        (
            (s.at_s(e), i, k)
            for i, s in enumerate(scenarios)
            for k, e in enumerate(s.scenario.timeline)
            if not e.happening
        ),
        key=lambda t: t[0],
    )
    _wait_for_site_clock(scenarios, registry, clock, say)
    home = SimulatedHome(
        registry,
        mqtt_url,
        clock,
        steps,
        prefix,
        speed=speed,
        seed=seed,
        start_hour=scenarios[0].start_hour if scenarios else None,
        loss=loss,
        devices=set() if quiet_home else None,
    )
    last_at = max((s.length_s() for s in scenarios), default=0.0)
    start_ms = clock.now_ms()
    home.start()
    t0 = time.monotonic()
    say(
        f"playing {len(scenarios)} scenario(s), {len(steps)} steps over"
        f" {last_at / speed:.1f} s at {speed:g}x, {len(registry)} devices of {registry.site.id}"
    )
    other_ms: dict[tuple[int, int], int] = {}
    notes: dict[int, list[str]] = {}
    errors: list[str] = []
    reports: list[jg.Report] = []
    try:
        deadline = t0 + last_at / speed + 30
        while (not home.all_played() or others) and time.monotonic() < deadline:
            elapsed = (time.monotonic() - t0) * speed
            while others and others[0][0] <= elapsed:
                at_s, i, k = others.pop(0)
                e = scenarios[i].scenario.timeline[k]
                other_ms[(i, k)] = clock.now_ms()
                if (e.operator or e.hazard) is not None and check is not None:
                    note, err = (
                        _operate(check, scenarios[i], e, at_s)
                        if e.operator is not None
                        else hz.play_step(check.register(), scenarios[i], e, at_s)
                    )
                    if err:
                        errors.append(err)
                    else:
                        notes.setdefault(i, []).append(note)
                say(f"{scenarios[i].name}: +{at_s:g}s {e.say or e.operator or e.hazard}")
            time.sleep(0.05)
        n = len(home.played_ms)  # the home's thread appends a step, then its time
        played_at = dict(zip(map(id, home.done_steps[:n]), home.played_ms[:n], strict=True))
        runs = []
        for i, s in enumerate(scenarios):
            mine = iter([st for k, st in tagged if k == i])
            played = [
                played_at.get(id(next(mine)), -1) if e.happening else other_ms.get((i, k), -1)
                for k, e in enumerate(s.scenario.timeline)
            ]
            runs.append((s, played))
        if check is not None:
            reports = _wait_and_judge(runs, check, start_ms, clock)
            for i, r in enumerate(reports):
                got, wrong = hz.judge(check.register(), r.loaded)  # expect_hazards
                r.notes += notes.get(i, []) + got
                errors += wrong
                prefix_ = f"{r.loaded.name}:"
                r.errors += [e for e in home.errors + errors if e.startswith(prefix_)]
        if linger_s:
            time.sleep(linger_s)
    finally:
        home.stop()
    say(f"published {home.published} messages")
    return reports


Trails = tuple[dict[str, list[dict[str, Any]]], dict[str, list[dict[str, Any]]]]


def _trails(
    runs: Sequence[tuple[Loaded, list[int]]],
    alerts: list[dict[str, Any]],
    check: AlertSource,
    start_ms: int,
) -> Trails:
    """The audit trails and outbox rows of the alerts whose steps, state or outcome are
    expected."""
    histories: dict[str, list[dict[str, Any]]] = {}
    outboxes: dict[str, list[dict[str, Any]]] = {}
    for loaded, played in runs:
        first = jg.refs(loaded, played, start_ms)
        for x in loaded.scenario.expect:
            if x.absent or not jg.needs_history(x):
                continue
            hits = jg.hits_of(x, alerts, jg.ref_of(first, x))
            if hits:
                aid = str(hits[0][1]["id"])
                histories.setdefault(aid, check.history(aid))
                if any(s.contact for s in x.steps) and aid not in outboxes:
                    outboxes[aid] = check.deliveries(aid)
    return histories, outboxes


def _wait_and_judge(
    runs: list[tuple[Loaded, list[int]]],
    check: AlertSource,
    start_ms: int,
    clock: Clock,
) -> list[jg.Report]:
    until = max(
        (
            jg.ref_of(jg.refs(s, p, start_ms), x) + int((x.within_s + x.watch_s()) * 1000)
            for s, p in runs
            for x in s.scenario.expect
            if not x.absent
        ),
        default=clock.now_ms(),
    )
    has_negative = any(
        s.scenario.quiet or any(x.absent for x in s.scenario.expect) for s, _ in runs
    )
    while True:
        alerts = check.alerts()
        reports = jg.judge(runs, alerts, start_ms, *_trails(runs, alerts, check, start_ms))
        now = clock.now_ms()
        done = all(
            o.ok and (o.raised_ms or 0) + int(o.expect.watch_s() * 1000) <= now
            for r in reports
            for o in r.outcomes
            if not o.expect.absent
        )
        if done or now > until:
            break
        time.sleep(0.25)
    if has_negative:
        time.sleep(SETTLE_S)  # give what must not come a chance to show itself
        alerts = check.alerts()
        reports = jg.judge(runs, alerts, start_ms, *_trails(runs, alerts, check, start_ms))
    return reports
