"""Random interleavings of readings, events, health observations, ticks, restarts,
operator commands (ack, resolve, shelve, unshelve) and maintenance.

Invariants: never two open alerts for one (rule, device); a latched alert only ever
closes through a person (resolve/ack) or a reset at its origin, and is never shelved;
no deadline (supervision, on/off-delay, escalation, shelving, maintenance) is left
unserved after its time; the cache always equals the database.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alerting.model import AlertState
from tests.conftest import DEMO_SITE
from tests.engine_harness import Harness

_REGISTRY = None


def registry():
    global _REGISTRY
    if _REGISTRY is None:
        from devices.registry import load_site

        _REGISTRY = load_site(DEMO_SITE)
    return _REGISTRY


DEVICES = {
    "w-101-1": ["fall", "sos"],
    "cb-101-1": ["press", "cancel"],
    "sd-101": ["smoke_alarm", "smoke_clear"],
}
pressure = st.builds(
    lambda v: ("telemetry", "p-1f-riser", f'{{"pressure_mpa":{v}}}'),
    st.sampled_from([0.02, 0.09, 0.105, 0.2, 0.35]),
)
current = st.builds(
    lambda v: ("telemetry", "e-1f-panel", f'{{"residual_current_ma":{v}}}'),
    st.sampled_from([50, 280, 300, 500]),
)
event = st.builds(
    lambda dev, i, n: (
        "event",
        dev,
        f'{{"event":"{DEVICES[dev][i % len(DEVICES[dev])]}","id":"e{n}"}}',
    ),
    st.sampled_from(sorted(DEVICES)),
    st.integers(0, 1),
    st.integers(0, 300),
)
status = st.builds(
    lambda dev, on: ("status", dev, f'{{"online":{"true" if on else "false"}}}'),
    st.sampled_from(["w-101-1", "sd-101", "p-1f-riser"]),
    st.booleans(),
)
tick = st.builds(lambda s: ("tick", s), st.sampled_from([0.5, 5, 29, 30, 31, 300, 601, 3601]))
heart = st.builds(
    lambda hr, steps, worn: (
        "telemetry",
        "w-101-1",
        f'{{"heart_rate_bpm":{hr},"steps":{steps},"worn":{"true" if worn else "false"}}}',
    ),
    st.sampled_from([40, 80, 125]),
    st.integers(0, 3),
    st.booleans(),
)
tick = st.builds(
    lambda s: ("tick", s), st.sampled_from([0.5, 5, 15, 29, 30, 31, 60, 180, 300, 601, 3601])
)
command = st.builds(
    lambda a, k: ("cmd", a, k),
    st.sampled_from(["ack", "resolve", "shelve", "unshelve"]),
    st.integers(0, 10),
)
maintenance = st.builds(
    lambda a, d: ("dev", a, d),
    st.sampled_from(["maintenance_start", "maintenance_end"]),
    st.sampled_from(["w-101-1", "p-1f-riser", "sd-101"]),
)
health = st.builds(
    lambda c, ok: ("health", c, ok), st.sampled_from(["broker", "store"]), st.booleans()
)
# events weigh more: the latched paths need an alarm, its clear and a command in order
step = st.one_of(
    event,
    event,
    event,
    command,
    command,
    pressure,
    current,
    heart,
    status,
    tick,
    tick,
    maintenance,
    health,
    st.just(("restart",)),
)


def check(h: Harness) -> None:
    db_open = h.conn.execute(
        "SELECT rule, site, device_id, id FROM alerts WHERE state != 'closed'"
    ).fetchall()
    keys = [(r, s, d) for r, s, d, _ in db_open]
    assert len(keys) == len(set(keys)), "two open alerts for one (rule, device)"
    assert sorted(a.id for a in h.open()) == sorted(i for *_, i in db_open), "cache != db"
    dropped = h.conn.execute(
        "SELECT count(*) FROM alerts WHERE latched = 1 AND state = 'cleared_unack'"
    ).fetchone()[0]
    assert dropped == 0, "a latched alert cleared by itself"
    shelved = h.conn.execute(
        "SELECT count(*) FROM alerts WHERE latched = 1 AND state = 'shelved'"
    ).fetchone()[0]
    assert shelved == 0, "a latched alert was shelved"
    now = h.clock.now_ms()
    overdue = h.conn.execute(
        "SELECT count(*) FROM device_state WHERE due_ms <= ?", (now,)
    ).fetchone()[0]
    overdue += h.conn.execute(
        "SELECT count(*) FROM deadlines WHERE due_ms <= ?", (now,)
    ).fetchone()[0]
    assert overdue == 0, "a deadline past due was not served"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(step, min_size=1, max_size=40))
def test_random_interleavings_keep_the_invariants(steps):
    with tempfile.TemporaryDirectory() as tmp:
        h = Harness(Path(tmp) / "cw.db", registry())
        by_person: set[int] = set()
        for s in steps:
            if s[0] == "tick":
                h.tick(s[1])
            elif s[0] == "restart":
                h.restart()
                h.tick(0)
            elif s[0] == "cmd":
                ids = sorted(a.id for a in h.open())
                if ids:
                    alert_id = ids[s[2] % len(ids)]
                    r = h.command(s[1], alert_id, duration_s=600)
                    if r.ok and r.alert and r.alert.state is AlertState.CLOSED:
                        by_person.add(alert_id)
            elif s[0] == "dev":
                h.device_command(s[1], s[2], duration_s=900)
            elif s[0] == "health":
                h.health(s[1], s[2])
            else:
                h.send(s[1], s[0], s[2])
                h.tick(0)  # a message batch also serves what fell due
            check(h)
        closed_latched = h.conn.execute(
            "SELECT id, closed_by FROM alerts WHERE latched = 1 AND state = 'closed'"
        ).fetchall()
        for alert_id, closed_by in closed_latched:
            assert alert_id in by_person or (closed_by or "").startswith("device:"), (
                "a latched alert closed without a person"
            )
        h.conn.close()
