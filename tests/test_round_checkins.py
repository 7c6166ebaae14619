"""Round check-ins on the engine over the demo home on a fake clock (alerting/checkins.py):
a phone's check-in is kept once and counted for the night route's round; an unknown tag,
a replay and a bad answer are refused with their reason; a "problem" opens a hazard in the
same write; a tag reader's `scan` event is a check-in committed with the event and never
counted twice when redelivered; and `round_missed` is raised at 03:15 when the 02:00
round was not walked, and cleared when the next round is."""

from __future__ import annotations

import json
import sqlite3
from concurrent.futures import Future
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from prometheus_client import CollectorRegistry

from alerting.checkin_reader import RoundSink
from alerting.checkins import CheckinError, RoundDesk
from alerting.engine import Engine
from alerting.items import CommandResult, Incoming, StoreWrite
from devices.ports import FakeClock
from devices.registry import Registry, load_site
from devices.rounds import RouteConfig
from ingest.deadletter import DeadLetterLog
from ingest.spool import Spool
from tests.conftest import DEMO_SITE
from tests.engine_harness import Harness

SH = ZoneInfo("Asia/Shanghai")
TAGS = [f"nfc:04a2b3c4d5e60{i}" for i in range(1, 9)]


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=SH).timestamp() * 1000)


class Patrol(Harness):
    """The harness's engine with the rounds' sink among its batch sinks."""

    def __init__(self, path: Path, registry: Registry) -> None:
        self.desk = RoundDesk(registry, self._read, self._write, FakeClock(ms("2026-12-05T21:00")),
                              lambda _s: SH)  # fmt: skip
        self.sink = RoundSink(self.desk)
        super().__init__(path, registry, self.desk._clock)  # type: ignore[arg-type]

    def start(self) -> None:
        super().start()
        self.engine = Engine(self.conn, self.registry, self.rules, self.clock,
                             [Spool(embedded=True), DeadLetterLog(), self.sink],
                             CollectorRegistry())  # fmt: skip
        self.engine.setup()

    def _read(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path)

    def _write(self, apply):  # type: ignore[no-untyped-def]
        r = self.engine.process([StoreWrite(apply)])
        self.changes += r.changes
        fut: Future[CommandResult] = Future()
        fut.set_result(r.results[0])
        return fut

    def at(self, text: str) -> None:
        self.clock.t = ms(text)

    def scan(self, tag: str, key: str, **attrs: str) -> None:
        body = {"event": "scan", "id": key, "tag": tag, **attrs}
        d = self.decoder.decode("carewatch/v1/sunrise/tr-1f-duty/event", json.dumps(body).encode(),
                                self.clock.now_ms())  # fmt: skip
        self.changes += self.engine.process([Incoming(d)]).changes

    def observe(self) -> None:
        self.engine.process([StoreWrite(self.desk.start_watch())])
        self.changes += self.engine.process(list(self.desk.observations())).changes

    def rows(self, sql: str) -> list[tuple[object, ...]]:
        return list(self.conn.execute(sql).fetchall())


@pytest.fixture
def p(tmp_path: Path, registry: Registry) -> Patrol:
    return Patrol(tmp_path / "cw.db", registry)


def test_a_phone_check_in_counts_for_the_round_and_a_replay_is_refused(p: Patrol) -> None:
    p.at("2026-12-05T22:10")
    done = p.desk.record("sunrise", TAGS[0], "nurse-li", {"exit_clear": "ok"}, client_id="c-0001")
    assert done.routes == ("night",) and not done.late and done.hazards == ()
    assert done.checkin.checkpoint == "cp-1f-east-exit" and done.checkin.via == "phone"
    with pytest.raises(CheckinError) as err:  # the same tag again in this round
        p.desk.record("sunrise", TAGS[0], "nurse-wang", {})
    assert err.value.status == 409 and "checked in already in this round" in err.value.detail
    with pytest.raises(CheckinError) as err:  # the phone retrying a lost answer
        p.desk.record("sunrise", TAGS[1], "nurse-li", {}, client_id="c-0001")
    assert err.value.status == 409 and "recorded already" in err.value.detail
    p.at("2026-12-06T00:05")  # the next round takes the same tag again
    assert p.desk.record("sunrise", TAGS[0], "nurse-li", {}).routes == ("night",)
    p.at("2026-12-06T00:59")
    late = p.desk.record("sunrise", TAGS[1], "nurse-li", {})
    assert not late.late
    p.at("2026-12-06T01:10")
    late = p.desk.record("sunrise", TAGS[2], "nurse-li", {})
    assert late.late and not late.missed
    p.at("2026-12-06T01:30")  # past due + grace (01:15): too late to count
    too_late = p.desk.record("sunrise", TAGS[3], "nurse-li", {})
    assert too_late.late and too_late.missed and too_late.routes == ("night",)
    [(route, st, _next)] = p.desk.rounds_now("sunrise")
    assert route.id == "night" and st is not None and st.status == "missed"
    assert [x.status for x in st.points[:5]] == ["done", "done", "late", "missed", "missed"]
    assert st.points[3].at_ms == ms("2026-12-06T01:30")  # shown, but missed as in the alert
    assert p.rows("SELECT count(*) FROM round_checkins") == [(5,)]


@pytest.mark.parametrize(
    ("tag", "answers", "status", "detail"),
    [
        ("nfc:nobody", {}, 404, "no checkpoint of site 'sunrise' has tag 'nfc:nobody'"),
        (TAGS[0], {"extinguisher_ok": "ok"}, 422, "not on checkpoint cp-1f-east-exit's"),
        (TAGS[0], {"exit_clear": "maybe"}, 422, "'maybe' is not ok or problem"),
    ],
)
def test_an_unknown_tag_or_bad_answers_are_refused_and_nothing_is_written(
    p: Patrol, tag: str, answers: dict[str, str], status: int, detail: str
) -> None:
    p.at("2026-12-05T22:10")
    with pytest.raises(CheckinError) as err:
        p.desk.record("sunrise", tag, "nurse-li", answers)
    assert err.value.status == status and detail in err.value.detail
    assert p.rows("SELECT count(*) FROM round_checkins") == [(0,)]


def test_a_problem_found_opens_a_hazard_in_the_same_write(p: Patrol) -> None:
    p.at("2026-12-05T22:20")
    done = p.desk.record("sunrise", TAGS[0], "nurse-li",
                         {"exit_clear": "problem", "fire_door_closed": "ok"}, "纸箱堵住出口")  # fmt: skip
    [hid] = done.hazards
    [row] = p.rows(
        f"SELECT state, category, location, floor, room, checkpoint, source, source_ref,"
        f" opened_by, description FROM hazards WHERE id = {hid}"
    )
    assert row[:9] == ("open", "exit_blocked", "1F 东侧安全出口", "1", None, "cp-1f-east-exit",
                       "round", str(done.checkin.id), "nurse-li")  # fmt: skip
    assert "纸箱堵住出口" in str(row[9])
    assert done.checkin.result == "problem"
    assert p.rows(f"SELECT action FROM hazard_log WHERE hazard_id = {hid}") == [("open",)]


def test_a_tag_reader_scan_is_a_check_in_committed_with_its_event_once(p: Patrol) -> None:
    p.at("2026-12-05T22:15")
    p.scan(TAGS[2], "tr-0001", staff="nurse-wang", problem="valve_open")
    p.scan(TAGS[2], "tr-0001", staff="nurse-wang", problem="valve_open")  # redelivered
    [row] = p.rows("SELECT checkpoint, by, via, result FROM round_checkins")
    assert row == ("cp-1f-utility", "nurse-wang", "reader", "problem")
    assert p.rows("SELECT category, room, source FROM hazards") == [
        ("hydrant", "1-utility", "round")
    ]
    p.scan(TAGS[3], "tr-0002")  # no staff: the reader is who checked in
    p.scan("nfc:stranger", "tr-0003")  # an unknown tag: logged, the event kept
    assert p.rows("SELECT by FROM round_checkins ORDER BY id")[1:] == [("tr-1f-duty",)]
    assert p.rows("SELECT count(*) FROM event_log WHERE device_id = 'tr-1f-duty'") == [(3,)]
    assert p.sink.pending == {"sunrise"}


def test_round_missed_is_raised_at_0315_and_cleared_by_the_next_round_walked(p: Patrol) -> None:
    p.observe()  # the watch begins at 21:00
    for hour, day in (("22", "05"), ("00", "06")):
        for i, tag in enumerate(TAGS):
            p.at(f"2026-12-{day}T{hour}:{10 + i}")
            p.scan(tag, f"{hour}-{i}")
    p.at("2026-12-06T03:14")
    p.observe()
    assert p.open("round_missed") == []
    p.at("2026-12-06T03:15")
    p.observe()
    alert = p.one("round_missed")
    assert alert.device_id == "round:night" and alert.site == "sunrise"
    assert alert.value == "night 02:00 round (2026-12-06): 8 of 8 checkpoints missed"
    for i, tag in enumerate(TAGS):
        p.at(f"2026-12-06T04:{10 + i}")
        p.scan(tag, f"04-{i}")
    p.observe()
    assert p.one("round_missed").state.value == "cleared_unack"


def test_a_problem_found_at_a_checkpoint_checked_in_this_round_is_kept(p: Patrol) -> None:
    """A second patrol finding the exit blocked after the first checked it in: the problem
    is recorded and its hazard opened (never refused as a replay); it counts for no round.
    A plain "ok" repeat is still refused."""
    p.at("2026-12-05T22:10")
    p.desk.record("sunrise", TAGS[0], "nurse-li", {"exit_clear": "ok"})
    p.at("2026-12-05T22:40")
    again = p.desk.record("sunrise", TAGS[0], "nurse-wang", {"exit_clear": "problem"}, "纸箱")
    assert again.repeat and again.routes == () and not again.late
    [hid] = again.hazards
    assert p.rows(f"SELECT category, opened_by FROM hazards WHERE id = {hid}") == [
        ("exit_blocked", "nurse-wang")
    ]
    assert p.rows("SELECT by, result FROM round_checkins ORDER BY id") == [
        ("nurse-li", "ok"), ("nurse-wang", "problem"),
    ]  # fmt: skip
    [(_route, st, _next)] = p.desk.rounds_now("sunrise")
    assert st is not None and st.points[0].by == "nurse-li"  # the round keeps the first
    with pytest.raises(CheckinError) as err:
        p.desk.record("sunrise", TAGS[0], "nurse-zhao", {"exit_clear": "ok"})
    assert err.value.code == "already_checked_in"


def test_a_retry_of_a_saved_check_in_is_told_what_was_saved(p: Patrol) -> None:
    p.at("2026-12-05T22:10")
    first = p.desk.record("sunrise", TAGS[0], "nurse-li", {"exit_clear": "problem"},
                          client_id="c-0001")  # fmt: skip
    p.at("2026-12-05T22:12")
    with pytest.raises(CheckinError) as err:
        p.desk.record("sunrise", TAGS[0], "nurse-li", {"exit_clear": "ok"}, client_id="c-0001")
    assert err.value.code == "already_recorded" and err.value.saved is not None
    assert err.value.saved.at_ms == ms("2026-12-05T22:10")
    assert err.value.saved.answers == {"exit_clear": "problem"}
    assert err.value.hazards == first.hazards


def test_a_problem_off_the_checklist_opens_its_hazard_from_a_phone_as_from_a_reader(
    p: Patrol,
) -> None:
    """The east exit's checklist has no extinguisher; a patrol who finds one empty there
    reports it from the phone as a reader's `problem` would: the hazard opens."""
    p.at("2026-12-05T22:10")
    done = p.desk.record("sunrise", TAGS[0], "nurse-li", {"extinguisher_ok": "problem"})
    [hid] = done.hazards
    assert p.rows(f"SELECT category FROM hazards WHERE id = {hid}") == [("extinguisher",)]
    p.scan(TAGS[1], "tr-0009", problem="exit_clear")  # cp-1f-corridor: off its list too
    assert p.rows("SELECT count(*) FROM hazards") == [(2,)]


def test_a_route_added_or_changed_later_is_judged_from_when_it_was_first_seen(
    tmp_path: Path,
) -> None:
    """The night route watched since 21:00 and its 04:00 round not walked: round_missed.
    A day route added at 10:00 (its 08:00 round long past grace) is not raised for rounds
    before it existed, nor is the night route once its checkpoints change; the day route's
    own first missed round is."""
    reg = load_site(DEMO_SITE)  # its own: the routes change under it
    p = Patrol(tmp_path / "cw.db", reg)
    p.observe()  # 21:00: the night route watched from now
    p.at("2026-12-06T10:00")
    p.observe()
    assert [a.device_id for a in p.open("round_missed")] == ["round:night"]
    rounds = reg.sites["sunrise"].rounds
    assert rounds is not None
    night = rounds.routes[0]
    day = RouteConfig(id="day", name="日间巡查", checkpoints=night.checkpoints[:2],
                      start="08:00", end="20:00", every_h=2)  # fmt: skip
    rounds.routes.append(day)
    obs = {o.device_id: o.holds for o in p.desk.observations()}
    assert obs == {"round:night": True, "round:day": False}  # not yet noted: quiet too
    p.observe()
    p.at("2026-12-06T10:30")
    p.observe()
    assert [a.device_id for a in p.open("round_missed")] == ["round:night"]
    rounds.routes[0] = night.model_copy(update={"checkpoints": night.checkpoints[:4]})
    p.at("2026-12-06T11:00")
    obs = {o.device_id: o.holds for o in p.desk.observations()}
    assert obs == {"round:night": False, "round:day": False}  # changed: from now on
    p.observe()
    p.at("2026-12-06T11:15")  # the day route's 10:00 round, seen from 10:00, not walked
    assert {o.device_id: o.holds for o in p.desk.observations()}["round:day"]


def test_an_nfc_uid_is_found_in_any_case_from_a_reader_or_a_phone(p: Patrol) -> None:
    p.at("2026-12-05T22:10")
    p.scan(TAGS[0].upper(), "tr-0101")  # a reader sending the uid in upper case
    assert p.rows("SELECT checkpoint, tag FROM round_checkins") == [("cp-1f-east-exit", TAGS[0])]
    done = p.desk.record("sunrise", "NFC:" + TAGS[1][4:].upper(), "nurse-li", {})
    assert done.checkin.checkpoint == "cp-1f-corridor" and done.checkin.tag == TAGS[1]
    assert p.desk.by_tag("sunrise", "qr:" + TAGS[2][4:]) is None  # only nfc: is case-blind
