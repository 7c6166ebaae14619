"""The hazard register without a broker: the state machine (alerting/hazards.step), the
desk over a real engine and store on a fake clock (open, steps, one hazard per alert,
overdue raised and cleared), photos by checksum, and the site file's `hazards:` section."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
from collections.abc import AsyncIterator
from concurrent.futures import Future
from dataclasses import replace
from pathlib import Path

import pytest

from alerting.hazard_alerts import from_alerts_problems, minutes_of, open_from_alerts
from alerting.hazard_desk import RULE, HazardDesk
from alerting.hazard_photos import PhotoError, PhotoStore
from alerting.hazards import (
    HOUR_MS,
    SECOND_PERSON,
    Hazard,
    HazardError,
    NewHazard,
    step,
)
from alerting.items import CommandResult, StoreWrite
from alerting.rulebook import Rulebook
from alerting.ruleset import RuleSet
from devices.registry import Registry, load_sites
from devices.yamlconf import ConfigError
from tests.conftest import DEMO_SITE
from tests.engine_harness import Harness

T0 = 1_795_300_000_000


def _hazard(state: str = "open", **kw: object) -> Hazard:
    base = Hazard(1, "sunrise", state, "fire_door", "门被楔子顶住", "1F 东", "1", None, None,
                  "screen", None, "nurse-li", T0, None, T0 + HOUR_MS, None, None, None, None,
                  None)  # fmt: skip
    return replace(base, **kw)  # type: ignore[arg-type]


# --- the state machine --------------------------------------------------------------------


def test_a_hazard_goes_open_in_progress_fixed_closed_each_step_stamped() -> None:
    h = step(_hazard(), "start", "nurse-li", T0 + 1)
    assert (h.state, h.started_ms) == ("in_progress", T0 + 1)
    h = step(h, "fix", "nurse-li", T0 + 2)
    assert (h.state, h.fixed_by, h.fixed_ms, h.started_ms) == ("fixed", "nurse-li", T0 + 2, T0 + 1)
    h = step(h, "close", "supervisor-zhao", T0 + 3)
    assert (h.state, h.closed_by, h.closed_ms) == ("closed", "supervisor-zhao", T0 + 3)


def test_a_fix_on_the_spot_goes_straight_from_open_to_fixed() -> None:
    h = step(_hazard(), "fix", "nurse-li", T0 + 5)
    assert (h.state, h.started_ms, h.fixed_ms) == ("fixed", T0 + 5, T0 + 5)


def test_the_fixer_cannot_close_her_own_fix() -> None:
    h = step(_hazard(), "fix", "nurse-li", T0)
    with pytest.raises(HazardError) as exc:
        step(h, "close", "nurse-li", T0 + 1)
    assert exc.value.status == 409 and exc.value.detail == SECOND_PERSON
    assert "需另一人验收" in SECOND_PERSON and "second person" in SECOND_PERSON


@pytest.mark.parametrize(
    ("state", "action"),
    [("open", "close"), ("open", "reopen"), ("in_progress", "start"), ("fixed", "fix"),
     ("closed", "reopen"), ("closed", "assign"), ("closed", "start")],
)  # fmt: skip
def test_a_step_its_state_does_not_allow_is_a_409(state: str, action: str) -> None:
    with pytest.raises(HazardError) as exc:
        step(_hazard(state), action, "x", T0, owner="y")
    assert exc.value.status == 409 and state in exc.value.detail


def test_a_failed_verification_reopens_the_hazard_and_forgets_the_fix() -> None:
    h = step(step(_hazard(), "fix", "nurse-li", T0), "reopen", "supervisor-zhao", T0 + 1)
    assert (h.state, h.fixed_by, h.fixed_ms) == ("in_progress", None, None)
    # the fixer of the second fix is again not the one who closes
    h = step(h, "fix", "nurse-wang", T0 + 2)
    assert step(h, "close", "nurse-li", T0 + 3).closed_by == "nurse-li"


def test_assign_sets_owner_and_deadline_and_needs_one_of_them() -> None:
    h = step(_hazard(), "assign", "supervisor-zhao", T0, owner="维修-王师傅", deadline_ms=T0 + 9)
    assert (h.state, h.owner, h.deadline_ms) == ("open", "维修-王师傅", T0 + 9)
    with pytest.raises(HazardError) as exc:
        step(_hazard(), "assign", "x", T0)
    assert exc.value.status == 422


def test_overdue_while_not_fixed_and_past_the_deadline() -> None:
    h = _hazard()
    assert not h.overdue(T0 + HOUR_MS - 1) and h.overdue(T0 + HOUR_MS)
    assert not replace(h, state="fixed").overdue(T0 + 2 * HOUR_MS)


# --- the desk over a real engine ----------------------------------------------------------


@pytest.fixture(scope="module")
def demo() -> Registry:
    return load_sites(DEMO_SITE)


def _desk(h: Harness) -> HazardDesk:
    def write(apply):  # type: ignore[no-untyped-def]  # the engine's transaction
        r = h.engine.process([StoreWrite(apply)])
        h.changes += r.changes
        fut: Future[CommandResult] = Future()
        fut.set_result(r.results[0])
        return fut

    return HazardDesk(h.registry, lambda: sqlite3.connect(h.path), write, h.clock)


def _observe(h: Harness, desk: HazardDesk) -> None:
    h.changes += h.engine.process(list(desk.observations())).changes


def _new(**kw: object) -> NewHazard:
    base = NewHazard("sunrise", "extinguisher", "灭火器压力不足", "2F 走廊", "nurse-li", "screen",
                     floor="2")  # fmt: skip
    return replace(base, **kw)  # type: ignore[arg-type]


def test_the_desk_opens_steps_and_logs_every_step(tmp_path: Path, demo: Registry) -> None:
    h = Harness(tmp_path / "cw.db", demo)
    desk = _desk(h)
    hz, new = desk.open(_new())
    assert new and hz.state == "open" and hz.deadline_ms == h.clock.now_ms() + 24 * HOUR_MS
    desk.act(hz.id, "start", "nurse-li")
    desk.act(hz.id, "fix", "nurse-li", note="换新灭火器")
    with pytest.raises(HazardError) as exc:
        desk.act(hz.id, "close", "nurse-li")
    assert exc.value.status == 409
    done = desk.act(hz.id, "close", "supervisor-zhao", note="验收合格")
    assert (done.state, done.fixed_by, done.closed_by) == ("closed", "nurse-li", "supervisor-zhao")
    assert [(r.action, r.from_state, r.to_state, r.by) for r in desk.log(hz.id)] == [
        ("open", None, "open", "nurse-li"),
        ("start", "open", "in_progress", "nurse-li"),
        ("fix", "in_progress", "fixed", "nurse-li"),
        ("close", "fixed", "closed", "supervisor-zhao"),
    ]
    assert [x.id for x in desk.find(["sunrise"], ["closed"])] == [hz.id]
    with pytest.raises(HazardError) as exc:
        desk.act(999, "start", "nurse-li")
    assert exc.value.status == 404


@pytest.mark.parametrize(
    ("kw", "says"),
    [({"site": "nowhere"}, "unknown site"), ({"category": "dragons"}, "unknown category"),
     ({"floor": "9"}, "unknown floor"), ({"room": "999"}, "unknown room"),
     ({"description": " "}, "description")],
)  # fmt: skip
def test_bad_input_is_a_422_and_nothing_is_written(
    tmp_path: Path, demo: Registry, kw: dict[str, object], says: str
) -> None:
    h = Harness(tmp_path / "cw.db", demo)
    desk = _desk(h)
    with pytest.raises(HazardError) as exc:
        desk.open(_new(**kw))
    assert exc.value.status == 422 and says in exc.value.detail
    assert desk.find(["sunrise", "nowhere"]) == []


def test_overdue_is_raised_past_the_deadline_and_cleared_by_the_fix(
    tmp_path: Path, demo: Registry
) -> None:
    h = Harness(tmp_path / "cw.db", demo)
    desk = _desk(h)
    hz, _ = desk.open(_new(category="fire_door", floor="1", room="101", location="101 门口"))
    _observe(h, desk)
    assert h.open(RULE) == []
    h.tick(HOUR_MS / 1000)
    _observe(h, desk)
    [alert] = h.open(RULE)
    assert alert.device_id == f"hazard:{hz.id}" and alert.site == "sunrise"
    assert alert.value is not None and "fire_door" in alert.value and "101" in alert.value
    assert "门口" not in alert.value  # typed words stay out of what leaves the building
    desk.act(hz.id, "fix", "nurse-wang")
    _observe(h, desk)
    assert h.one(RULE).state.value == "cleared_unack"


def test_an_alert_open_too_long_opens_one_hazard_also_after_a_restart(
    tmp_path: Path, demo: Registry
) -> None:
    h = Harness(tmp_path / "cw.db", demo)
    h.send("sd-101", "status", '{"online":false}')
    [alert] = [a for a in h.open("device_offline") if a.device_id == "sd-101"]
    desk = _desk(h)
    assert open_from_alerts(desk, demo) == []  # not a day yet
    h.tick(24 * 3600)
    [hid] = open_from_alerts(desk, demo)
    hz = desk.get(hid)
    assert hz is not None
    assert (hz.source, hz.source_ref, hz.category, hz.room) == (
        "alert", str(alert.id), "alarm_system", "101"
    )  # fmt: skip
    assert hz.opened_by == "carewatch" and "sd-101" in hz.description
    assert open_from_alerts(desk, demo) == []
    # an alert whose room the site file no longer has opens nothing and stops nothing
    h.conn.execute("UPDATE alerts SET room = 'gone' WHERE id = ?", (alert.id,))
    h.conn.execute("DELETE FROM hazards")
    h.conn.commit()
    assert open_from_alerts(desk, demo) == []
    h.conn.execute("UPDATE alerts SET room = '101' WHERE id = ?", (alert.id,))
    h.conn.commit()
    assert len(open_from_alerts(desk, demo)) == 1
    h.restart()
    assert open_from_alerts(_desk(h), demo) == []
    assert len(desk.find(["sunrise"])) == 1


def test_the_site_files_minutes_go_over_the_defaults_and_zero_turns_one_off(
    tmp_path: Path,
) -> None:
    text = DEMO_SITE.read_text(encoding="utf-8")
    f = tmp_path / "home.yaml"
    f.write_text(text + "hazards:\n  from_alerts:\n    device_offline: 0\n    smoke: 10\n")
    reg = load_sites(f)
    m = minutes_of(reg)["sunrise"]
    assert m["fire_door_open"] == 30 and m["smoke"] == 10 and "device_offline" not in m
    rules = Rulebook(RuleSet.defaults(), {}, {}, frozenset())
    assert from_alerts_problems(f, reg, rules) == []


def test_an_unknown_rule_in_the_hazards_section_names_file_and_line(tmp_path: Path) -> None:
    text = DEMO_SITE.read_text(encoding="utf-8")
    f = tmp_path / "home.yaml"
    f.write_text(text + "hazards:\n  from_alerts:\n    door_held_open: 30\n")
    reg = load_sites(f)
    rules = Rulebook(RuleSet.defaults(), {}, {}, frozenset())
    line = len(text.splitlines()) + 3
    [problem] = from_alerts_problems(f, reg, rules)
    assert problem.startswith(f"{f}:{line}: hazards.from_alerts.door_held_open: unknown rule")
    from carewatch.hazarding import check_hazard_rules

    with pytest.raises(ConfigError) as exc:  # the service does not start with it
        check_hazard_rules(f, reg, rules)
    assert exc.value.problems == [problem]
    f.write_text(text + "hazards:\n  from_alerts:\n    Door Open: 30\n")
    with pytest.raises(ConfigError, match="not a rule name"):
        load_sites(f)


def test_check_config_names_an_unknown_rule_of_the_hazards_section(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from carewatch.cli import main as cli

    text = DEMO_SITE.read_text(encoding="utf-8")
    f = tmp_path / "home.yaml"
    f.write_text(text + "hazards:\n  from_alerts:\n    door_held_open: 30\n")
    assert cli(["check-config", str(f)]) == 1
    line = len(text.splitlines()) + 3
    assert (
        f"{f}:{line}: hazards.from_alerts.door_held_open: unknown rule" in capsys.readouterr().err
    )
    f.write_text(text + "hazards:\n  from_alerts:\n    smoke: 5\n")
    assert cli(["check-config", str(f)]) == 0


# --- photos -------------------------------------------------------------------------------

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 100
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 100


async def _chunks(data: bytes, size: int = 7) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


def test_a_photo_is_stored_by_checksum_once(tmp_path: Path) -> None:
    store = PhotoStore(tmp_path / "hazard-photos")
    a = asyncio.run(store.save("image/png", _chunks(PNG)))
    b = asyncio.run(store.save("image/png; charset=x", _chunks(PNG)))
    assert a == b and a.bytes == len(PNG) and a.content_type == "image/png"
    path = store.path_of(a.sha256)
    assert path is not None and path.read_bytes() == PNG
    assert path.parent.name == a.sha256[:2]
    assert [p.name for p in store.root.rglob("*") if p.is_file()] == [a.sha256]  # no temp left


@pytest.mark.parametrize(
    ("ctype", "data", "status"),
    [("image/png", JPEG, 415), ("image/gif", PNG, 415), ("text/html", b"<html>", 415),
     ("image/jpeg", b"", 415), ("image/jpeg", JPEG + b"\x00" * 2000, 413)],
)  # fmt: skip
def test_a_photo_not_the_image_it_says_or_too_large_is_refused_and_leaves_nothing(
    tmp_path: Path, ctype: str, data: bytes, status: int
) -> None:
    store = PhotoStore(tmp_path / "hazard-photos", max_bytes=1000)
    with pytest.raises(PhotoError) as exc:
        asyncio.run(store.save(ctype, _chunks(data, 64)))
    assert exc.value.status == status
    assert not store.root.exists() or not any(p.is_file() for p in store.root.rglob("*"))


def test_a_declared_length_over_the_limit_is_refused_before_reading(tmp_path: Path) -> None:
    store = PhotoStore(tmp_path / "hazard-photos", max_bytes=1000)
    assert store.too_large("1001")
    assert not store.too_large("1000") and not store.too_large(None)
    assert not store.too_large("many")  # not a number: the streamed count decides


def test_a_photo_path_is_only_ever_a_checksum_under_the_root(tmp_path: Path) -> None:
    store = PhotoStore(tmp_path / "hazard-photos")
    assert store.path_of("../../etc/passwd") is None
    assert store.path_of("0" * 64) is None  # a checksum, but no such file


@pytest.mark.parametrize(
    ("ctype", "data"),
    [("image/jpeg", b"\xff\xd8\xff"), ("image/jpeg", b"\xff\xd8\xff" + b"\x00" * 12),
     ("image/png", b"\x89PNG\r\n\x1a\n"), ("image/webp", b"RIFF\x00\x00\x00\x00WEBP")],
)  # fmt: skip
def test_a_signature_alone_is_no_image(tmp_path: Path, ctype: str, data: bytes) -> None:
    store = PhotoStore(tmp_path / "hazard-photos")
    with pytest.raises(PhotoError) as exc:
        asyncio.run(store.save(ctype, _chunks(data)))
    assert exc.value.status == 415 and "16 bytes" in exc.value.detail


def test_the_disk_work_of_a_photo_runs_off_the_event_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The route is async and its loop serves the duty screen's live stream: the write
    and the fsync of a photo (up to 5 MB) happen in a worker thread."""
    store = PhotoStore(tmp_path / "hazard-photos")
    synced_in: list[int] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced_in.append(threading.get_ident())
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)

    async def go() -> int:
        await store.save("image/png", _chunks(PNG))
        return threading.get_ident()

    loop_thread = asyncio.run(go())
    assert synced_in and loop_thread not in synced_in


def test_the_client_id_column_is_added_once_and_unique(tmp_path: Path) -> None:
    from alerting.store import create_schema

    conn = sqlite3.connect(tmp_path / "old.db")
    create_schema(conn)
    create_schema(conn)  # a restart: nothing added twice
    assert "client_id" in {r[1] for r in conn.execute("PRAGMA table_info(hazards)")}
    row = ("sunrise", "open", "other", "d", "l", "screen", "nurse-li", T0, T0, "hz-form-0001")
    sql = ("INSERT INTO hazards(site, state, category, description, location, source, opened_by,"
           " opened_ms, deadline_ms, client_id) VALUES (?,?,?,?,?,?,?,?,?,?)")  # fmt: skip
    conn.execute(sql, row)
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute(sql, row)
