"""Every MQTT session a service has run under, and the retiring of those it no longer runs.

A persistent session outlives its client: mosquitto keeps its subscriptions and queues
what matches them for the session expiry (7 days). For a member of a share group that is
worse than memory: mosquitto 2.0.11 keeps giving a departed member its turn (measured,
tests/test_two_services.py: a group of one live and one departed member, 100 messages,
the live one got 50, the departed session held the other 50). So when the client id,
the number of ingest workers or the service id (the share group) changes, the sessions
of the old setting would keep taking a share of the traffic that nobody reads.

`SessionBook` remembers, in `<data_dir>/mqtt-sessions.json`, each client id the service
ran under with every topic filter it subscribed (the share group is in the filters:
`$share/<group>/...`). At start, `SessionBook.plan` says which remembered sessions are no
longer run (to retire) and which filters a current session may still hold from an
earlier setting (to unsubscribe when the broker still has it). `Retirement` watches the
retiring sources (`MqttSource(retire=True)`): each takes what its session held (delivered
and committed like any message), unsubscribes, and once every message is acked and none
came for a while, ends its session (session expiry 0 on DISCONNECT); then the book
forgets it. A retirement that does not finish (broker down, service stopped) is tried
again at the next start.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter

from ingest.mqtt import MqttSource

log = logging.getLogger("carewatch.ingest.sessions")

BOOK_FILE = "mqtt-sessions.json"
# before the book: the most ingest workers run, and the fixed share group they used
LEGACY_WORKERS_FILE = "ingest-workers"
LEGACY_SHARE = "carewatch"
QUIET_S = 1.0


def shared(topics: Sequence[str], share: str | None) -> tuple[str, ...]:
    """Topic filters as subscribed: `$share/<group>/<topic>` in a share group."""
    return tuple(f"$share/{share}/{t}" if share else t for t in topics)


@dataclass(frozen=True, slots=True)
class Session:
    """A persistent MQTT session: its client id and the filters it subscribes."""

    client_id: str
    filters: tuple[str, ...]


def legacy_sessions(
    client_id: str,
    prefix: str,
    events: Sequence[str],
    telemetry: Sequence[str],
    workers: int,
) -> list[Session]:
    """What versions before the book may have left at the broker: the single session
    (`<client id>`, every topic), the events session, and `workers` ingest workers in the
    fixed share group `carewatch`; each also with the filters of every site
    (`<prefix>/+/+/<kind>`) subscribed before subscriptions were per site."""
    p = prefix.rstrip("/")
    old_events = [*events, f"{p}/+/+/event"]
    old_telemetry = [*telemetry, f"{p}/+/+/telemetry", f"{p}/+/+/status"]
    return [
        Session(client_id, shared([*old_events, *old_telemetry], None)),
        Session(f"{client_id}-events", shared(old_events, None)),
        *(
            Session(f"{client_id}-w{k}", shared(old_telemetry, LEGACY_SHARE))
            for k in range(workers)
        ),
    ]


@dataclass(frozen=True, slots=True)
class Plan:
    """What to tidy at start: `stale` filters per current client id (held, perhaps, from an
    earlier setting), and the remembered sessions no longer run."""

    stale: dict[str, tuple[str, ...]] = field(default_factory=dict)
    retire: list[Session] = field(default_factory=list)


class SessionBook:
    """The sessions this data directory has run under (`mqtt-sessions.json`)."""

    def __init__(self, data_dir: Path) -> None:
        self._dir = data_dir
        self._path = data_dir / BOOK_FILE
        self._lock = threading.Lock()

    def legacy_workers(self) -> int:
        """The most ingest workers run before the book existed (`ingest-workers`)."""
        try:
            return int((self._dir / LEGACY_WORKERS_FILE).read_text().strip() or 0)
        except (OSError, ValueError):
            return 0

    def plan(self, current: Sequence[Session], legacy: Sequence[Session]) -> Plan:
        """Remember the `current` sessions (with every filter they ever held: a filter of
        an earlier setting is removed at each connect that finds the session) and return
        what to tidy. Without a book yet, `legacy` stands for what earlier versions may
        have left at the broker."""
        with self._lock:
            known = self._load()
            if known is None:
                known = {s.client_id: set(s.filters) for s in legacy}
            now = {s.client_id for s in current}
            retire = [
                Session(cid, tuple(sorted(filters)))
                for cid, filters in known.items()
                if cid not in now
            ]
            stale = {}
            for s in current:
                held = known.get(s.client_id, set())
                stale[s.client_id] = tuple(sorted(held - set(s.filters)))
                known[s.client_id] = held | set(s.filters)
            self._save(known)
            (self._dir / LEGACY_WORKERS_FILE).unlink(missing_ok=True)
        return Plan(stale, retire)

    def forget(self, client_id: str) -> None:
        """A session the broker has ended: nothing to retire any more."""
        with self._lock:
            known = self._load() or {}
            if known.pop(client_id, None) is not None:
                self._save(known)

    def remembered(self) -> dict[str, set[str]]:
        """Client id -> filters, as the book holds them ({} without a book)."""
        with self._lock:
            return self._load() or {}

    def _load(self) -> dict[str, set[str]] | None:
        try:
            data = json.loads(self._path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            log.error("MQTT session book unreadable; starting a new one", exc_info=True)
            return {}
        return {s["client_id"]: set(s["filters"]) for s in data.get("sessions", [])}

    def _save(self, known: dict[str, set[str]]) -> None:
        sessions = [{"client_id": c, "filters": sorted(f)} for c, f in sorted(known.items())]
        tmp = self._path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"sessions": sessions}, indent=1) + "\n", encoding="utf-8")
        os.replace(tmp, self._path)


class Retirement:
    """Ends each retiring source's session once it is drained (a thread, every 0.25 s)."""

    def __init__(
        self,
        sources: Sequence[MqttSource],
        book: SessionBook,
        metrics: CollectorRegistry,
        quiet_s: float = QUIET_S,
    ) -> None:
        self._sources = list(sources)
        self._book = book
        self._quiet_s = quiet_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()  # the sources left, between this thread and stop()
        self._retired = Counter(
            "carewatch_mqtt_sessions_retired",
            "MQTT sessions of an earlier setting ended after taking what they held",
            registry=metrics,
        )

    def start(self) -> None:
        """Connect the retiring sessions and watch them."""
        for s in self._sources:
            s.start()
        if self._sources:
            self._thread = threading.Thread(target=self._run, name="mqtt-retire", daemon=True)
            self._thread.start()

    def pending(self) -> list[str]:
        """Client ids still being retired."""
        with self._lock:
            return [s.client_id for s in self._sources]

    def stop(self) -> None:
        """Stop watching; a session not yet drained is disconnected as it is (kept by the
        broker, retired at the next start). Call after the engine's last acks."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2.0)
        with self._lock:
            left, self._sources = self._sources, []
        for s in left:
            s.stop()

    def _run(self) -> None:
        while not self._stop.wait(0.25):
            with self._lock:
                done = [s for s in self._sources if s.drained(self._quiet_s)]
                for s in done:
                    s.end_session()
                    self._sources.remove(s)
            for s in done:
                self._book.forget(s.client_id)
                self._retired.inc()
                log.info(
                    "MQTT session retired", extra={"client_id": s.client_id, "messages": s.taken}
                )
            if not self._sources:
                return
