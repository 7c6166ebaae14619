"""The judge of a scenario: its expectations against what the service did.

Pure: it reads the service's alerts (`GET /api/alerts?state=all`) and, for the alerts whose
escalation, state or outcome is expected, their audit trails (`GET /api/alerts/{id}`
`history`), as the runner fetched them, and says for each expectation whether it was met
and how long it took, so a scenario doubles as an acceptance test.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from simulators.scenario import Expect, Loaded

# audit actions of an escalation step; a forward to the fire brigade is a step of its target
STEP_ACTIONS = ("escalate", "renotify", "forward")
OUTCOME_ACTION = "outcome"  # the console's outcome row (alerting/outcomes.py)
SLACK_MS = 500  # clocks read by two processes: an alert this much before a step is its own


@dataclass
class Outcome:
    expect: Expect
    ok: bool
    detail: str
    latency_s: float | None = None
    alert_id: str | None = None  # the alert that met (or failed) the expectation
    raised_ms: int | None = None


@dataclass
class Report:
    loaded: Loaded
    outcomes: list[Outcome] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)  # with `quiet`: alerts not expected
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what else happened (operator actions)

    @property
    def passed(self) -> bool:
        return not self.errors and not self.unexpected and all(o.ok for o in self.outcomes)

    def lines(self) -> list[str]:
        s = self.loaded.scenario
        out = [f"scenario {self.loaded.name}: {s.title}"]
        out += [f"  ..    {n}" for n in self.notes]
        for o in self.outcomes:
            for i, line in enumerate(o.detail.split("\n")):
                mark = ("ok  " if o.ok else "FAIL") if i == 0 else "    "
                out.append(f"  {mark}  {line}")
        out += [f"  FAIL  unexpected: {u}" for u in self.unexpected]
        out += [f"  FAIL  step: {e}" for e in self.errors]
        out.append("  PASSED" if self.passed else "  FAILED")
        return out


def ms(iso: str | None) -> int | None:
    """Epoch ms of the API's ISO time (None stays None)."""
    return None if iso is None else int(datetime.fromisoformat(iso).timestamp() * 1000)


def _what(x: Expect) -> str:
    return f"{x.rule} on {x.device}" if x.device else x.rule


def step_target(note: str | None) -> str:
    """The target of an escalation row's note: `family_1`, `family_1: ...` or
    `family_1/<resident>/<contact>` all name family_1."""
    text = (note or "").strip()
    for sep in (":", "/", " "):
        text = text.split(sep, 1)[0]
    return text


def _skipped(note: str | None) -> bool:
    """A step that reached nobody: `<target>: skipped: <why>` (alerting/lifecycle.py)."""
    return ": skipped:" in (note or "")


def hits_of(x: Expect, alerts: Sequence[Mapping[str, Any]], ref_ms: int) -> list[tuple[int, Any]]:
    """The alerts that meet `x`'s rule and device, raised (or again) since `ref_ms`, with
    the time each counts from, oldest first."""
    hits = []
    for a in alerts:
        if a["rule"] != x.rule or (x.device is not None and a["device_id"] != x.device):
            continue
        raised, last = ms(a["raised_at"]), ms(a["last_at"])
        at = raised if raised is not None and raised >= ref_ms - SLACK_MS else last
        if at is None or at < ref_ms - SLACK_MS:
            continue  # from before this step
        hits.append((at, a))
    return sorted(hits, key=lambda h: h[0])


@dataclass(frozen=True)
class _Taken:
    target: str
    after_ms: int  # since the raise
    skipped: bool


def _taken(raised_ms: int, history: Sequence[Mapping[str, Any]]) -> list[_Taken]:
    return [
        _Taken(step_target(h.get("note")), (ms(h["at"]) or 0) - raised_ms, _skipped(h.get("note")))
        for h in history
        if h.get("action") in STEP_ACTIONS
    ]


def _reached(outbox: Sequence[Mapping[str, Any]], contact: str) -> bool:
    """An outbox row of the alert for the contact (recipient `<resident>/<contact>`)."""
    return any(str(o.get("recipient") or "").endswith(f"/{contact}") for o in outbox)


def _steps(
    x: Expect,
    raised_ms: int,
    history: Sequence[Mapping[str, Any]],
    outbox: Sequence[Mapping[str, Any]],
) -> list[str]:
    """What is wrong with the alert's escalation steps (nothing: []). The present steps
    must come in the file's order, each within its `within_s` of the raise (taken, or
    recorded as skipped when the file says so; reaching its `contact` through the outbox);
    an absent one must not be taken within its window."""
    rows = _taken(raised_ms, history)
    wrong: list[str] = []
    pos = 0
    for s in x.steps:
        if s.absent:
            late = [
                r.after_ms
                for r in rows
                if r.target == s.target and not r.skipped and r.after_ms <= (s.within_s or 0) * 1000
            ]
            if late:
                wrong.append(f"step {s.target} taken after {late[0] / 1000:.1f} s, and must not be")
            continue
        found = next(
            (
                i
                for i in range(pos, len(rows))
                if rows[i].target == s.target and rows[i].skipped == s.skipped
            ),
            None,
        )
        what = f"{s.target} (skipped)" if s.skipped else s.target
        if found is None:
            wrong.append(f"step {what} not taken in order (steps: {_path(rows) or 'none'})")
            continue
        pos = found + 1
        took = rows[found].after_ms / 1000
        if s.within_s is not None and took > s.within_s:
            wrong.append(f"step {what} after {took:.1f} s (> {s.within_s:g} s)")
        if s.contact is not None and not _reached(outbox, s.contact):
            wrong.append(f"step {s.target} has no outbox row for contact {s.contact}")
    return wrong


def _path(rows: Sequence[_Taken]) -> str:
    return ", ".join(
        f"{r.target}{' (skipped)' if r.skipped else ''} +{r.after_ms / 1000:.0f}s" for r in rows
    )


def judge_one(
    x: Expect,
    alerts: Sequence[Mapping[str, Any]],
    ref_ms: int,
    histories: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
    outboxes: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
) -> Outcome:
    """One expectation: the alert raised within `within_s` of `ref_ms` (or not at all), its
    severity, and from its audit trail (`histories` by alert id) its escalation steps, its
    state and the outcome recorded; from its outbox rows (`outboxes`) the contacts its
    steps reached."""
    hits = hits_of(x, alerts, ref_ms)
    if x.absent:
        if hits:
            return Outcome(x, False, f"{_what(x)} raised, and must not be")
        return Outcome(x, True, f"no {_what(x)}")
    if not hits:
        return Outcome(x, False, f"{_what(x)} not raised within {x.within_s:g} s")
    at, a = hits[0]
    aid = str(a.get("id", ""))
    latency = max(0.0, (at - ref_ms) / 1000)
    out = Outcome(x, True, "", latency, aid or None, at)
    if x.severity is not None and a["severity"] != x.severity:
        out.ok, out.detail = False, f"{_what(x)} raised as {a['severity']}, not {x.severity}"
        return out
    if latency > x.within_s:
        out.ok, out.detail = False, f"{_what(x)} raised after {latency:.1f} s (> {x.within_s:g} s)"
        return out
    lines = [f"{_what(x)} after {latency:.1f} s (within {x.within_s:g} s)"]
    history = (histories or {}).get(aid, [])
    wrong = _steps(x, at, history, (outboxes or {}).get(aid, []))
    if x.steps:
        lines.append(f"steps: {_path(_taken(at, history)) or 'none'}")
    if x.state is not None and a.get("state") != x.state:
        wrong.append(f"state {a.get('state')}, not {x.state}")
    if x.outcome is not None:
        codes = [step_target(h.get("note")) for h in history if h.get("action") == OUTCOME_ACTION]
        if x.outcome not in codes:
            wrong.append(f"outcome {x.outcome} not recorded (recorded: {codes or 'none'})")
    if wrong:
        out.ok = False
    out.detail = "\n".join(lines + wrong)
    return out


def needs_history(x: Expect) -> bool:
    """Whether judging `x` reads the alert's audit trail."""
    return bool(x.steps) or x.outcome is not None


def refs(loaded: Loaded, played: Sequence[int], start_ms: int) -> dict[str | None, int]:
    """When each expectation's clock starts: its device's first step (key: the device), or
    the run's first entry (key: None) for a device not on the timeline."""
    first: dict[str | None, int] = {}
    for e, t in zip(loaded.scenario.timeline, played, strict=True):
        if t >= 0 and e.happening:
            first.setdefault(e.device, t)
    first[None] = min((t for t in played if t >= 0), default=start_ms)
    return first


def ref_of(first: Mapping[str | None, int], x: Expect) -> int:
    return first.get(x.device, first[None])


def judge(
    runs: Sequence[tuple[Loaded, list[int]]],
    alerts: Sequence[Mapping[str, Any]],
    start_ms: int,
    histories: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
    outboxes: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
) -> list[Report]:
    """Each scenario's expectations against the service's alerts; `runs` pairs a scenario
    with the wall-clock times its entries were played (-1: not played); `histories` and
    `outboxes` hold the audit trails and outbox rows of the alerts whose steps, state or
    outcome are expected."""
    reports = []
    for loaded, played in runs:
        r = Report(loaded)
        first = refs(loaded, played, start_ms)
        for x in loaded.scenario.expect:
            ref = start_ms if x.absent else ref_of(first, x)
            r.outcomes.append(judge_one(x, alerts, ref, histories, outboxes))
        if loaded.scenario.quiet:
            r.unexpected = _unexpected(loaded, r, alerts, start_ms)
        reports.append(r)
    return reports


def _unexpected(
    loaded: Loaded, r: Report, alerts: Sequence[Mapping[str, Any]], start_ms: int
) -> list[str]:
    mine = loaded.devices()
    expected = {(x.rule, x.device) for x in loaded.scenario.expect if not x.absent}
    out = []
    for a in alerts:
        last = ms(a["last_at"]) or 0
        if a["device_id"] not in mine or last < start_ms - SLACK_MS:
            continue
        if (a["rule"], a["device_id"]) in expected or (a["rule"], None) in expected:
            continue
        if any(o.expect.absent and o.expect.rule == a["rule"] for o in r.outcomes):
            continue  # already a failed expectation
        out.append(f"{a['rule']} on {a['device_id']}")
    return out
