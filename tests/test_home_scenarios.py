"""Issue 16 point 6: the home-bed scenarios (examples/scenarios/home-*.yaml), each played on
its site's own clock against a real `carewatch serve` and real mosquitto, judged on its
alerts and on the escalation steps each alert climbed (or must not have climbed)."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT
from tests.scenario_clock import Played, play_on_site_clock

SCENARIOS = ROOT / "examples" / "scenarios"
RIVERSIDE = SCENARIOS / "riverside.site.yaml"

pytestmark = pytest.mark.integration


def home_scenarios() -> list[Path]:
    return sorted(SCENARIOS.glob("home-*.yaml"))


# the machinery on its own (nursing-home rules only): a night on the site's clock, an
# operator who answers one alert and leaves another to climb
NIGHT = """title: 03:10 a resident wanders at night; a call nobody answers
site_clock: true
start: "03:09:56"
speed: 1
background: false
timeline:
  - {at: "03:10:00", device: w-204-1, do: zone, with: {zone: 2-corridor}, say: 204-1 walks out}
  - {at: "03:10:00", device: cb-101-1, do: press, say: 101-1 calls}
  - {at: "03:10:02", operator: ack, rule: night_wandering, by: cw-night, say: answered}
  - {at: "03:10:12", say: the end of the watch}
expect:
  - rule: night_wandering
    device: w-204-1
    within_s: 5
    state: active_ack
    steps:
      - {target: duty_screen, within_s: 3}
      - {target: supervisor, absent: true, within_s: 9}
  - rule: call
    device: cb-101-1
    within_s: 5
    steps:
      - {target: duty_screen, within_s: 3}
      - {target: supervisor, within_s: 8}
"""
FAST_EMERGENCY = """timezone: Asia/Shanghai
builtin: true
escalation:
  policies:
    emergency:   # the default's steps at a tenth of their times
      steps:
        - {after_s: 0, notify: duty_screen}
        - {after_s: 6, notify: supervisor}
        - {after_s: 60, notify: director}
      repeat_s: 30
"""


def test_a_night_on_the_sites_clock_with_an_operator(tmp_path, broker):
    """The site's clock reads 03:10 whatever the hour: the night-only wandering rule fires
    on the service; the operator's acknowledgement goes through the API and stops the
    climb; the unanswered call climbs to the supervisor."""
    site = tmp_path / "riverside.site.yaml"
    site.write_text(RIVERSIDE.read_text() + "timezone: Asia/Shanghai\n", encoding="utf-8")
    scenario = tmp_path / "night.yaml"
    scenario.write_text(NIGHT, encoding="utf-8")
    played = play_on_site_clock(tmp_path / "cw", broker.url, scenario, site, FAST_EMERGENCY)
    print(played.stdout)
    assert played.returncode == 0, played.why()
    assert "ack on night_wandering" in played.stdout
    assert "steps: duty_screen +0s, supervisor +6s" in played.stdout


def _play_alone(work: Path, scenario: Path, timeout_s: float = 180) -> Played:
    """One scenario on its own broker: two services share no client ids, and one home's
    messages (its last wills too) never reach another scenario's service."""
    from ingest.broker import MosquittoProcess

    broker = MosquittoProcess(work / "mosquitto")
    broker.start()
    try:
        return play_on_site_clock(work / "cw", broker.url, scenario, timeout_s=timeout_s)
    finally:
        broker.stop()


def test_the_home_scenarios_pass_against_a_running_service(tmp_path):
    """All five at once, each with its own broker, service and clock: a fall answered by
    the operator, gas at night climbing to the community centre, a day without activity,
    the door open at 3 a.m., a terminal's low battery."""
    files = home_scenarios()
    assert len(files) == 5
    with ThreadPoolExecutor(len(files)) as pool:
        runs = list(pool.map(lambda f: _play_alone(tmp_path / f.stem, f), files))
    for played in runs:
        print(played.stdout)
    failed = [p.name for p in runs if p.returncode != 0]
    assert failed == [], "\n\n".join(p.why() for p in runs if p.returncode != 0)
    slowest = max(p.seconds for p in runs)
    assert slowest < 90, f"the home scenarios took {slowest:.0f} s"


# --- at the real pace (opt-in: CAREWATCH_SCENARIOS_REAL_TIME=1, about 5 minutes) ----------


def at_real_pace(scenario: Path, work: Path, factor: float = 10) -> Path:
    """The scenario with the home policy's own times: its site's rules without the
    shortened escalation of home.rules.yaml, and the operators' actions, marks and step
    windows after its first happening `factor` times as far apart."""
    from simulators import scenario as sc

    work.mkdir(parents=True, exist_ok=True)
    rules: dict[str, Any] = yaml.safe_load((SCENARIOS / "home.rules.yaml").read_text("utf-8"))
    rules.pop("escalation")
    (work / "home.rules.yaml").write_text(yaml.safe_dump(rules), encoding="utf-8")
    site = (SCENARIOS / "home.site.yaml").read_text("utf-8")
    (work / "home.site.yaml").write_text(site, encoding="utf-8")  # rules_file: the copy
    loaded = sc.load(scenario)
    data: dict[str, Any] = yaml.safe_load(scenario.read_text("utf-8"))
    first = min(loaded.at_s(e) for e in loaded.scenario.timeline if e.happening)
    for raw, e in zip(data["timeline"], loaded.scenario.timeline, strict=True):
        at = loaded.at_s(e)
        raw["at"] = f"+{first + (at - first) * factor if at > first else at:g}s"
    for x in data["expect"]:
        for step in x.get("steps", []):
            step["within_s"] = step["within_s"] * factor
    out = work / scenario.name
    out.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return out


@pytest.mark.skipif(
    os.environ.get("CAREWATCH_SCENARIOS_REAL_TIME") != "1",
    reason="the home policy at its real pace takes 5 minutes: CAREWATCH_SCENARIOS_REAL_TIME=1",
)
@pytest.mark.timeout(900)
def test_the_home_escalation_at_its_real_pace(tmp_path):
    """The fall answered within the first minute (no family step by 150 s) and the gas
    nobody answers (family at 60 s and 120 s, the community centre at 180 s once the
    missing third family member is skipped) with home_emergency's own times."""
    files = [SCENARIOS / "home-fall-answered.yaml", SCENARIOS / "home-gas-night.yaml"]
    real = [at_real_pace(f, tmp_path / f.stem / "scenario") for f in files]
    with ThreadPoolExecutor(len(real)) as pool:
        runs = list(pool.map(lambda f: _play_alone(f.parent.parent, f, 600), real))
    for played in runs:
        print(played.stdout)
    failed = [p.name for p in runs if p.returncode != 0]
    assert failed == [], "\n\n".join(p.why() for p in runs if p.returncode != 0)
