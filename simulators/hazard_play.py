"""The hazard register in scenarios (docs/simulator.md, "Hazards"): a timeline entry
`hazard: start|fix|close|reopen` acts on the newest hazard of the site through the API,
as the staff member `by` (the runner's token names her: a token with the duty role acts
for a named person; the site file holds only hashes of PINs, so the runner cannot log in
as her); and `expect_hazards` judges the register at the end (state, a second person's
sign-off)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from simulators.scenario import Entry, HazardExpect, Loaded

POLL_S = 0.25


class HazardApi:
    """The service's register as the runner sees it (a token with the duty role)."""

    def __init__(self, get: Callable[..., Any], post: Callable[[str, dict[str, Any]], Any]) -> None:
        self._get = get
        self._post = post

    def hazards(self) -> list[dict[str, Any]]:
        """Every hazard the token reads, newest first."""
        rows: list[dict[str, Any]] = self._get("/api/hazards", limit=5000)
        return rows

    def step(self, hazard_id: int, step: str, body: dict[str, Any]) -> Any:
        """POST /api/hazards/{id}/{step}; the httpx response."""
        return self._post(f"/api/hazards/{hazard_id}/{step}", body)


def play_step(api: HazardApi, loaded: Loaded, e: Entry, at_s: float) -> tuple[str, str]:
    """Play a hazard step on the newest hazard; (a note for the report, an error or '').
    A step marked `refused` must be answered 409 (the fixer's own close)."""
    assert e.hazard is not None
    what = f"hazard {e.hazard} by {e.by}"
    found = api.hazards()
    if not found:
        return "", f"{loaded.name}: {what} at +{at_s:g}s: no hazard in the register"
    h = max(found, key=lambda x: int(x["id"]))
    r = api.step(int(h["id"]), e.hazard, {"by": e.by, **e.with_})
    if e.refused:
        if r.status_code != 409:
            return "", f"{loaded.name}: {what} at +{at_s:g}s: not refused (HTTP {r.status_code})"
        return f"+{at_s:g}s {what} (hazard {h['id']}): refused as expected", ""
    if r.status_code >= 300:
        return "", f"{loaded.name}: {what} at +{at_s:g}s: HTTP {r.status_code} {r.text[:200]}"
    return f"+{at_s:g}s {what} (hazard {h['id']}) -> {r.json()['state']}", ""


def problem(x: HazardExpect, hazards: list[dict[str, Any]]) -> str | None:
    """What is wrong with the register against one expectation; None when it holds."""
    mine = [
        h for h in hazards
        if (x.source is None or h["source"] == x.source)
        and (x.category is None or h["category"] == x.category)
    ]  # fmt: skip
    what = " ".join(f"{k}={v}" for k, v in (("source", x.source), ("category", x.category)) if v)
    if not mine:
        return f"no hazard {what}".rstrip()
    h = max(mine, key=lambda z: int(z["id"]))
    if x.state is not None and h["state"] != x.state:
        return f"hazard {h['id']} is {h['state']}, expected {x.state}"
    if x.closed_by_second and (
        h["state"] != "closed" or not h["closed_by"] or h["closed_by"] == h["fixed_by"]
    ):
        return (
            f"hazard {h['id']} not signed off by a second person"
            f" (state {h['state']}, fixed_by {h['fixed_by']}, closed_by {h['closed_by']})"
        )
    return None


def judge(
    api: HazardApi, loaded: Loaded, now_s: Callable[[], float] = time.monotonic
) -> tuple[list[str], list[str]]:
    """Wait (up to each expectation's `within_s`) for the register to hold what the
    scenario expects; (notes, errors)."""
    notes: list[str] = []
    errors: list[str] = []
    for x in loaded.scenario.expect_hazards:
        until = now_s() + x.within_s
        while True:
            wrong = problem(x, api.hazards())
            if wrong is None or now_s() >= until:
                break
            time.sleep(POLL_S)
        label = f"hazard {x.state or ''}{' by a second person' if x.closed_by_second else ''}"
        if wrong is None:
            notes.append(f"{label.strip()}: ok")
        else:
            errors.append(f"{loaded.name}: {wrong}")
    return notes, errors
