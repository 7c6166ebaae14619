"""The book of MQTT sessions (ingest/sessions.py): what a start retires and what filters
of an earlier setting a current session drops."""

from __future__ import annotations

from ingest.sessions import LEGACY_SHARE, Session, SessionBook, legacy_sessions, shared

EVENTS = ["carewatch/v1/sunrise/+/event"]
TELEMETRY = ["carewatch/v1/sunrise/+/telemetry", "carewatch/v1/sunrise/+/status"]


def _current(cid: str, group: str, workers: int) -> list[Session]:
    return [
        Session(f"{cid}-events", shared(EVENTS, None)),
        *(Session(f"{cid}-w{k}", shared(TELEMETRY, group)) for k in range(workers)),
    ]


def _legacy(cid: str, workers: int) -> list[Session]:
    return legacy_sessions(cid, "carewatch/v1", EVENTS, TELEMETRY, workers)


def test_the_first_start_retires_what_an_earlier_version_may_have_left(tmp_path):
    (tmp_path / "ingest-workers").write_text("3\n")  # the old count file
    book = SessionBook(tmp_path)
    assert book.legacy_workers() == 3
    plan = book.plan(_current("cw", "home-a", 2), _legacy("cw", 3))
    # the single process's session and the third worker of the old setting
    assert sorted(s.client_id for s in plan.retire) == ["cw", "cw-w2"]
    # the workers may still be members of the fixed group, over every site's topics
    assert plan.stale["cw-w0"] == tuple(
        sorted(
            shared(
                [*TELEMETRY, "carewatch/v1/+/+/telemetry", "carewatch/v1/+/+/status"],
                LEGACY_SHARE,
            )
        )
    )
    assert plan.stale["cw-events"] == ("carewatch/v1/+/+/event",)
    assert not (tmp_path / "ingest-workers").exists()


def test_a_changed_client_id_service_id_or_worker_count_retires_the_old_sessions(tmp_path):
    book = SessionBook(tmp_path)
    book.plan(_current("cw", "home-a", 2), [])
    book.forget("nothing")  # an unknown id changes nothing
    assert sorted(book.remembered()) == ["cw-events", "cw-w0", "cw-w1"]
    # fewer workers
    plan = book.plan(_current("cw", "home-a", 1), [])
    assert [s.client_id for s in plan.retire] == ["cw-w1"]
    assert plan.stale == {"cw-events": (), "cw-w0": ()}
    book.forget("cw-w1")
    # another service id: the same sessions leave the old group
    plan = book.plan(_current("cw", "home-b", 1), [])
    assert plan.retire == []
    assert plan.stale["cw-w0"] == tuple(sorted(shared(TELEMETRY, "home-a")))
    # another client id: every old session is retired, with every filter it held
    plan = book.plan(_current("cw2", "home-b", 1), [])
    retire = {s.client_id: set(s.filters) for s in plan.retire}
    assert retire == {
        "cw-events": set(shared(EVENTS, None)),
        "cw-w0": set(shared(TELEMETRY, "home-a")) | set(shared(TELEMETRY, "home-b")),
    }
    for cid in retire:
        book.forget(cid)
    assert sorted(book.remembered()) == ["cw2-events", "cw2-w0"]
