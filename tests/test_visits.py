"""Welfare visits of home beds (alerting/visits.py) on a fake clock: a visit recorded is
kept once (a retry is the same visit), bad input is refused with its reason, the plan
says when the next visit is due and overdue, and a missed visit raises `visit_missed` on
the resident's subject until a visit that saw her is recorded. Also the access file's
workers and their checks (dashboards/access.py) and the workers' PIN sessions."""

from __future__ import annotations

import sqlite3
from concurrent.futures import Future
from pathlib import Path

import pytest

from alerting.items import CommandResult, StoreWrite
from alerting.visits import DAY_MS, GRACE_MS, RULE, VisitDesk, VisitError
from dashboards.access import load_access_file
from dashboards.auth import LoginError, hash_pin
from dashboards.workers import WORKER_SESSION_MS, WorkerAuth
from devices.ports import FakeClock
from devices.registry import Registry, load_sites
from devices.yamlconf import ConfigError
from tests.conftest import ROOT
from tests.engine_harness import Harness

HB = ROOT / "examples" / "sites" / "3-hb-wang.yaml"
SITES = ROOT / "examples" / "sites"
H = 3_600_000


@pytest.fixture(scope="module")
def hb() -> Registry:
    return load_sites(HB)


def _desk(h: Harness, assigned: dict[str, frozenset[str]] | None = None) -> VisitDesk:
    def write(apply):  # the engine's transaction, as the runner runs it
        r = h.engine.process([StoreWrite(apply)])
        h.changes += r.changes
        fut: Future[CommandResult] = Future()
        fut.set_result(r.results[0])
        return fut

    def read() -> sqlite3.Connection:
        return sqlite3.connect(h.path)

    return VisitDesk(
        h.registry, assigned or {"cw-zhao": frozenset({"hb-wang"})}, read, write, h.clock
    )


def _observe(h: Harness, desk: VisitDesk) -> None:
    h.engine.process([StoreWrite(desk.start_plans())])
    h.changes += h.engine.process(list(desk.observations())).changes


def test_a_visit_is_recorded_once_and_a_retry_is_the_same_visit(tmp_path: Path, hb) -> None:
    h = Harness(tmp_path / "cw.db", hb)
    desk = _desk(h)
    at = h.clock.now_ms() - H
    v, new = desk.record("hb-wang", "r-1", "cw-zhao", at, "visited", "  血压正常 ")
    assert new and (v.site, v.resident, v.worker, v.at_ms, v.outcome) == (
        "hb-wang", "r-1", "cw-zhao", at, "visited"
    )  # fmt: skip
    assert v.note == "血压正常" and v.recorded_ms == h.clock.now_ms()
    again, new = desk.record("hb-wang", "r-1", "cw-zhao", at, "visited", "血压正常")
    assert (again.id, new) == (v.id, False)
    assert [x.id for x in desk.visits(["hb-wang"], at, at + 1)] == [v.id]
    assert desk.visits(["hb-wang"], at + 1, at + DAY_MS) == []


@pytest.mark.parametrize(
    ("site", "resident", "worker", "offset_ms", "outcome", "status", "says"),
    [
        ("nowhere", "r-1", "cw-zhao", 0, "visited", 422, "unknown site 'nowhere'"),
        ("hb-wang", "r-9", "cw-zhao", 0, "visited", 422, "unknown resident 'r-9'"),
        ("hb-wang", "r-1", "cw-qian", 0, "visited", 403, "does not visit site 'hb-wang'"),
        ("hb-wang", "r-1", "cw-zhao", 0, "asleep", 422, "unknown outcome 'asleep'"),
        ("hb-wang", "r-1", "cw-zhao", H, "visited", 422, "in the future"),
        ("hb-wang", "r-1", "cw-zhao", -40 * DAY_MS, "visited", 422, "more than 31 days"),
    ],
)
def test_a_visit_that_cannot_be_recorded_says_why_and_writes_nothing(
    tmp_path: Path, hb, site, resident, worker, offset_ms, outcome, status, says
) -> None:
    h = Harness(tmp_path / "cw.db", hb)
    desk = _desk(h, {"cw-zhao": frozenset({"hb-wang"}), "cw-qian": frozenset({"other"})})
    with pytest.raises(VisitError) as e:
        desk.record(site, resident, worker, h.clock.now_ms() + offset_ms, outcome)
    assert e.value.status == status and says in e.value.detail
    assert desk.visits(["hb-wang", "nowhere"], 0, 2**62) == []


def test_the_plan_says_when_a_visit_is_due_and_overdue(tmp_path: Path, hb) -> None:
    h = Harness(tmp_path / "cw.db", hb)
    desk = _desk(h)
    start = h.clock.now_ms()
    h.engine.process([StoreWrite(desk.start_plans())])  # the plan runs from now
    [d] = desk.due()
    assert (d.site, d.resident, d.worker, d.every_days) == ("hb-wang", "r-1", "cw-zhao", 7)
    assert (d.last_ms, d.due_ms, d.status, d.missed) == (None, start + 7 * DAY_MS, "ok", False)
    h.clock.advance(6.5 * 86400)
    assert desk.due()[0].status == "due"  # a day ahead: on tomorrow's round
    h.clock.advance(0.5 * 86400)
    assert (desk.due()[0].status, desk.due()[0].missed) == ("overdue", False)
    h.clock.advance(GRACE_MS / 1000)
    assert desk.due()[0].missed
    # a visit that saw her restarts the clock; a later restart of the plan changes nothing
    seen = h.clock.now_ms() - H
    desk.record("hb-wang", "r-1", "cw-zhao", seen, "refused")
    h.engine.process([StoreWrite(desk.start_plans())])
    [d] = desk.due()
    assert (d.last_ms, d.due_ms, d.status) == (seen, seen + 7 * DAY_MS, "ok")
    # nobody at home: recorded, but the visit is still owed
    h.clock.advance(8 * 86400)
    desk.record("hb-wang", "r-1", "cw-zhao", h.clock.now_ms(), "not_home")
    assert desk.due()[0].missed


def test_a_missed_visit_raises_visit_missed_on_the_residents_subject_and_a_visit_clears_it(
    tmp_path: Path, hb
) -> None:
    h = Harness(tmp_path / "cw.db", hb)
    desk = _desk(h)
    _observe(h, desk)
    assert h.open(RULE) == []  # a new plan: a week and a day before anything is missed
    h.clock.advance(8 * 86400 - 60)
    _observe(h, desk)
    assert h.open(RULE) == []
    h.clock.advance(61)
    _observe(h, desk)
    [alert] = h.open(RULE)
    subject = hb.resident_subject("hb-wang", "r-1")
    assert subject is not None and alert.device_id == subject.id
    assert alert.value == "r-1: no visit yet (every 7 days)"
    assert "王秀英" not in (alert.value or "")  # ids only, never the name
    _observe(h, desk)  # the check repeats: still one alert
    assert len(h.open(RULE)) == 1
    desk.record("hb-wang", "r-1", "cw-zhao", h.clock.now_ms(), "visited")
    _observe(h, desk)
    assert [a.state for a in h.open(RULE)] == ["cleared_unack"]


# --------------------------------------------------------------------- workers


def _access(tmp_path: Path, text: str, sites: Path = SITES) -> object:
    path = tmp_path / "access.yaml"
    path.write_text(text, encoding="utf-8")
    return load_access_file(path, load_sites(sites))


def test_the_example_access_file_lists_the_worker_of_the_example_plan() -> None:
    access = load_access_file(ROOT / "examples" / "access.yaml", load_sites(SITES))
    [w] = access.workers
    assert (w.id, w.sites) == ("cw-zhao", frozenset({"hb-wang"}))
    auth = WorkerAuth(access.workers, b"k" * 32, FakeClock())
    assert auth.login("cw-zhao", "2468").worker.id == "cw-zhao"  # the documented demo PIN


def test_workers_of_the_access_file_are_checked_with_file_and_line(tmp_path: Path) -> None:
    pin = hash_pin("2468", iterations=1000)
    with pytest.raises(ConfigError) as e:
        _access(
            tmp_path,
            "workers:\n"
            f"  - {{id: cw-zhao, name: 赵, sites: [hb-wang, nowhere], pin_hash: '{pin}'}}\n"
            f"  - {{id: cw-zhao, name: 钱, sites: [sunrise], pin_hash: '{pin}'}}\n",
        )
    text = "\n".join(e.value.problems)
    assert ":2: workers.0.sites.1: unknown site 'nowhere'" in text
    assert ":3: workers.1.sites.0: site 'sunrise' is no home bed" in text
    assert ":3: workers.1.id: 'cw-zhao' twice" in text
    with pytest.raises(ConfigError) as e:
        _access(tmp_path, "workers:\n  - {id: cw-zhao, name: 赵, sites: [hb-wang], pin: '1234'}\n")
    text = "\n".join(e.value.problems)
    assert ":2: workers.0.pin_hash:" in text and ":2: workers.0.pin:" in text


def test_a_plan_whose_worker_is_not_in_the_access_file_is_a_warning_of_check_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from carewatch.cli import main as cli

    # the plan of hb-wang names cw-zhao: an access file without her cannot record its visits
    path = tmp_path / "access.yaml"
    path.write_text("users: []\n", encoding="utf-8")
    assert cli(["check-config", str(path), "--site", str(SITES)]) == 0
    out = capsys.readouterr()
    assert "ok, 0 users, 0 workers" in out.out
    assert (
        f"{path}: warning: site hb-wang: visits.worker 'cw-zhao' is not a worker of the"
        " access file" in out.err
    )
    assert cli(["check-config", str(ROOT / "examples" / "access.yaml"), "--site", str(SITES)]) == 0
    assert "warning" not in capsys.readouterr().err


def test_a_worker_logs_in_with_her_pin_and_wrong_pins_are_limited() -> None:
    from dashboards.access import Worker

    clock = FakeClock()
    w = Worker("cw-zhao", "赵志强", frozenset({"hb-wang"}), hash_pin("2468", iterations=1000))
    auth = WorkerAuth([w], b"k" * 32, clock)
    s = auth.login("cw-zhao", "2468")
    assert s.token.startswith("w.") and auth.verify(s.token) == w
    assert auth.verify(s.token[:-2] + "xx") is None  # forged
    assert WorkerAuth([w], b"j" * 32, clock).verify(s.token) is None  # another service's
    for _ in range(5):
        with pytest.raises(LoginError) as e:
            auth.login("cw-zhao", "1111")
        assert e.value.status == 401
    with pytest.raises(LoginError) as e:
        auth.login("cw-zhao", "2468")  # even the right PIN, for a while
    assert e.value.status == 429
    clock.advance(5 * 60 + 1)
    assert auth.login("cw-zhao", "2468").worker == w
    clock.advance(WORKER_SESSION_MS / 1000 + 1)
    assert auth.verify(s.token) is None  # expired
