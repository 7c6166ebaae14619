"""`GET /api/alerts/stream`: every alert change as Server-Sent Events.

The audit log is the stream: each event's id is its audit row id, so a client that
reconnects with `Last-Event-ID` gets exactly what it missed, replayed from the database,
and a live client is woken by the engine committing (ChangeHub) rather than by polling.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import orjson
from sse_starlette import ServerSentEvent
from starlette.concurrency import run_in_threadpool

from alerting.model import Alert, Change
from alerting.store import AlertReader

RETRY_MS = 2000
IDLE_CHECK_S = 15.0
TARGETED = ("escalate", "renotify")  # their audit note is the notifier target


class ChangeHub:
    """A runner listener that wakes every open stream after a commit (engine thread)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiters: dict[asyncio.Event, asyncio.AbstractEventLoop] = {}

    def notify(self, _changes: list[Change]) -> None:
        with self._lock:
            waiters = list(self._waiters.items())
        for event, loop in waiters:
            try:
                loop.call_soon_threadsafe(event.set)
            except RuntimeError:  # that stream's loop is closed
                self.unsubscribe(event)

    def subscribe(self) -> asyncio.Event:
        event = asyncio.Event()
        with self._lock:
            self._waiters[event] = asyncio.get_running_loop()
        return event

    def unsubscribe(self, event: asyncio.Event) -> None:
        with self._lock:
            self._waiters.pop(event, None)

    def __len__(self) -> int:
        return len(self._waiters)


def _data(obj: Any) -> str:
    return orjson.dumps(obj).decode()


async def alert_events(
    reader: AlertReader,
    hub: ChangeHub,
    last_event_id: str | None,
    alert_json: Callable[[Alert], dict[str, Any]],
    iso: Callable[[int | None], str | None],
    sites: Sequence[str] | None = None,
) -> AsyncIterator[ServerSentEvent]:
    """A snapshot of the open alerts, what the client missed (if it says what it saw
    last), then every change as it commits; of `sites` only, when given (the caller's)."""
    wake = hub.subscribe()  # before reading: nothing committed in between is missed
    shown = None if sites is None else frozenset(sites)
    try:
        cursor = await run_in_threadpool(reader.last_change_id)
        alerts = await run_in_threadpool(reader.find, "open", 5000, sites)
        snapshot = {"last_id": cursor, "alerts": [alert_json(a) for a in alerts]}
        yield ServerSentEvent(_data(snapshot), event="snapshot", id=str(cursor), retry=RETRY_MS)
        seen = int(last_event_id) if last_event_id and last_event_id.isdigit() else cursor
        while True:
            replay = seen < cursor
            # live, a page read inline (an indexed read of a few rows, well under a ms)
            # saves two thread hops per change; a replay may be long: off the loop
            if replay:
                rows = await run_in_threadpool(reader.changes_since, seen)
            else:
                rows = reader.changes_since(seen)
            for row, alert in rows:
                seen = row["id"]  # the cursor passes other sites' changes unseen
                if shown is not None and alert.site not in shown:
                    continue
                yield ServerSentEvent(
                    _data(
                        {
                            **row,
                            "at": iso(row["at"]),
                            "target": row["note"] if row["action"] in TARGETED else None,
                            "replay": replay and seen <= cursor,
                            "alert": alert_json(alert),
                        }
                    ),
                    event="change",
                    id=str(seen),
                )
            if rows:
                continue  # more may be waiting (pages of 500)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), IDLE_CHECK_S)
            wake.clear()
    finally:
        hub.unsubscribe(wake)
