"""Hazard steps in scenarios (simulators/hazard_play.py): the entry's parsing and its fit
to the site (a staff id as `by`), the judge of `expect_hazards`, and a scenario played by
`carewatch simulate` against the real service: the fixer's own sign-off refused, a second
person's accepted."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from devices.registry import load_site
from devices.yamlconf import ConfigError
from simulators import hazard_play as hz
from simulators import scenario as sc
from tests.conftest import DEMO_SITE
from tests.servers import CarewatchProcess

SCENARIO = f"""
title: a hazard fixed, then signed off by a second person
site: {DEMO_SITE}
start: "23:00"
speed: 60
background: false
timeline:
  - {{at: "+60s", hazard: fix, by: nurse-li, with: {{note: 已移走杂物}}}}
  - {{at: "+120s", hazard: close, by: nurse-li, refused: true, say: the fixer may not}}
  - {{at: "+180s", hazard: close, by: supervisor-zhao}}
expect_hazards:
  - {{source: screen, category: exit_blocked, state: closed, closed_by_second: true}}
"""


def _file(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "hz.yaml"
    p.write_text(text, encoding="utf-8")
    return p


def test_hazard_entries_parse_and_fit_the_site(tmp_path: Path) -> None:
    loaded = sc.load(_file(tmp_path, SCENARIO))
    steps = [(e.hazard, e.by, e.refused, e.happening) for e in loaded.scenario.timeline]
    assert steps == [
        ("fix", "nurse-li", False, False),
        ("close", "nurse-li", True, False),
        ("close", "supervisor-zhao", False, False),
    ]
    assert loaded.scenario.timeline[0].with_ == {"note": "已移走杂物"}
    [x] = loaded.scenario.expect_hazards
    assert (x.state, x.closed_by_second, x.within_s) == ("closed", True, 30)
    demo = load_site(DEMO_SITE)
    assert sc.problems(loaded, demo) == []
    other = sc.load(_file(tmp_path, SCENARIO.replace("by: supervisor-zhao", "by: op-x")))
    assert sc.problems(other, demo) == [
        "hz: timeline.2: `by` 'op-x' is not a staff id of site sunrise"
    ]


@pytest.mark.parametrize(
    ("entry", "says"),
    [
        ("{at: 1, hazard: fix, device: sd-101, by: nurse-li}", "a hazard step has no `device`"),
        ("{at: 1, hazard: fix, by: nurse-li, with: {owner: x}}", "takes only `note`"),
        ("{at: 1, operator: ack, rule: fall, refused: true}", "`refused` goes with `hazard`"),
        ("{at: 1, hazard: burn, by: nurse-li}", "hazard"),
    ],
)
def test_a_bad_hazard_entry_names_file_line_and_why(tmp_path: Path, entry: str, says: str) -> None:
    text = f"title: x\nstart: '08:00'\ntimeline:\n  - {entry}\n"
    with pytest.raises(ConfigError) as exc:
        sc.load(_file(tmp_path, text))
    assert says in "\n".join(exc.value.problems) and ":4:" in "\n".join(exc.value.problems)


def _h(id_: int, state: str, fixed_by: str | None = None, closed_by: str | None = None,
       source: str = "screen") -> dict[str, Any]:  # fmt: skip
    return {"id": id_, "state": state, "source": source, "category": "exit_blocked",
            "fixed_by": fixed_by, "closed_by": closed_by}  # fmt: skip


def test_the_judge_of_the_register() -> None:
    x = sc.HazardExpect(state="closed", closed_by_second=True)
    assert hz.problem(x, []) == "no hazard"
    assert hz.problem(x, [_h(1, "fixed", "a")]) == "hazard 1 is fixed, expected closed"
    assert "not signed off by a second person" in (
        hz.problem(sc.HazardExpect(closed_by_second=True), [_h(1, "closed", "a", "a")]) or ""
    )
    assert hz.problem(x, [_h(1, "open"), _h(2, "closed", "a", "b")]) is None  # the newest
    assert hz.problem(sc.HazardExpect(source="round"), [_h(1, "open")]) == "no hazard source=round"


class _FakeApi(hz.HazardApi):
    def __init__(self, status: int) -> None:
        self.status = status
        self.posted: list[tuple[str, dict[str, Any]]] = []
        super().__init__(lambda *_a, **_k: [_h(3, "fixed", "nurse-li"), _h(1, "open")], self._p)

    def _p(self, path: str, body: dict[str, Any]) -> Any:
        self.posted.append((path, body))
        return type(
            "R",
            (),
            {"status_code": self.status, "text": "", "json": lambda _s: {"state": "closed"}},
        )()


def test_a_step_acts_on_the_newest_hazard_and_a_refused_one_must_be_refused(tmp_path: Path) -> None:
    loaded = sc.load(_file(tmp_path, SCENARIO))
    close_own, close_other = loaded.scenario.timeline[1], loaded.scenario.timeline[2]
    api = _FakeApi(200)
    note, err = hz.play_step(api, loaded, close_other, 180)
    assert err == "" and "hazard 3" in note and "closed" in note
    assert api.posted == [("/api/hazards/3/close", {"by": "supervisor-zhao"})]
    note, err = hz.play_step(api, loaded, close_own, 120)
    assert err == "hz: hazard close by nurse-li at +120s: not refused (HTTP 200)"
    assert hz.play_step(_FakeApi(409), loaded, close_own, 120)[1] == ""


@pytest.mark.integration
def test_a_hazard_scenario_passes_against_the_running_service(tmp_path: Path, broker: Any) -> None:
    service = CarewatchProcess(tmp_path / "cw", broker.url, DEMO_SITE)
    service.start()
    try:
        r = service.post("/api/hazards", {"site": "sunrise", "category": "exit_blocked",
                                           "description": "杂物堵塞东侧安全出口", "floor": "1",
                                           "by": "nurse-wang"})  # fmt: skip
        assert r.status_code == 201, r.text
        f = _file(tmp_path, SCENARIO)
        argv = [sys.executable, "-m", "carewatch", "simulate", "--mqtt-url", broker.url,
                "--check-url", service.url, "--check-token", service.token, "--scenario", str(f),
                "--site", str(DEMO_SITE)]  # fmt: skip
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr[-3000:]
        assert "refused as expected" in done.stdout and "PASSED" in done.stdout
        hazard = service.get(f"/api/hazards/{r.json()['id']}").json()
        assert (hazard["fixed_by"], hazard["closed_by"]) == ("nurse-li", "supervisor-zhao")
    finally:
        service.stop()


@pytest.mark.integration
def test_a_hazard_found_on_a_round_is_closed_by_a_second_person(
    tmp_path: Path, broker: Any
) -> None:
    """examples/scenarios/round-hazard-found.yaml against a service of the demo home: the
    patrol's reader reports the east fire exit blocked, a hazard opens from that check-in
    (source round), the fixer's sign-off is refused, a second person's closes it."""
    scenario = DEMO_SITE.parent / "scenarios" / "round-hazard-found.yaml"
    service = CarewatchProcess(tmp_path / "cw", broker.url, DEMO_SITE)
    service.start()
    try:
        argv = [sys.executable, "-m", "carewatch", "simulate", "--mqtt-url", broker.url,
                "--check-url", service.url, "--check-token", service.token,
                "--scenario", str(scenario), "--site", str(DEMO_SITE)]  # fmt: skip
        done = subprocess.run(argv, capture_output=True, text=True, timeout=180)
        assert done.returncode == 0, done.stdout + done.stderr[-3000:]
        assert "refused as expected" in done.stdout and "PASSED" in done.stdout
        [hazard] = service.get("/api/hazards?site=sunrise&state=closed").json()
        assert (hazard["source"], hazard["category"]) == ("round", "exit_blocked")
        assert (hazard["fixed_by"], hazard["closed_by"]) == ("nurse-li", "supervisor-zhao")
        checkins = service.get("/api/rounds/checkins?site=sunrise").json()
        assert [(c["result"], c["by"]) for c in checkins] == [("problem", "nurse-wang")]
    finally:
        service.stop()
