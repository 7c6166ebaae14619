"""The fire patrol on the simulated home's tag reader (docs/fire-duty.md, ## Rounds): in a
round of the site's routes, the reader reads the round's next checkpoint at each of its
reports (every few minutes) until every one is read, so the duty screen's rounds view
shows a round in progress, then done. The schedule is the site file's (devices/rounds.py),
on the site's clock."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import tzinfo
from typing import Any

from devices.rounds import RoundsConfig, round_at


@dataclass
class Patrol:
    """What the reader walks: the site's rounds, its zone, who walks them."""

    rounds: RoundsConfig
    tz: tzinfo
    staff: str | None = None
    read: dict[tuple[str, int], set[str]] = field(default_factory=dict)  # round -> checkpoints

    def scans(self, ts_ms: int) -> list[dict[str, Any]]:
        """The scan events due at `ts_ms`: the next unread checkpoint of each route's round
        under way (before its due time), at most one per report."""
        tags = {c.id: c.tag for c in self.rounds.checkpoints}
        for route in self.rounds.routes:
            rnd = round_at(route, self.tz, ts_ms)
            if rnd is None or ts_ms >= rnd.due_ms:
                continue
            done = self.read.setdefault((route.id, rnd.start_ms), set())
            for cp in route.checkpoints:
                if cp in done:
                    continue
                # a checkpoint read counts for every route whose round includes it
                for other, seen in self.read.items():
                    if other != (route.id, rnd.start_ms):
                        seen.add(cp)
                done.add(cp)
                key = f"patrol-{route.id}-{rnd.start_ms}-{cp}"  # a restart reads it once
                body: dict[str, Any] = {"event": "scan", "id": key, "ts": ts_ms, "tag": tags[cp]}
                if self.staff:
                    body["staff"] = self.staff
                return [body]
        return []
