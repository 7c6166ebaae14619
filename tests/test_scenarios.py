"""The simulator as a product: realistic device models (pure, simulated time),
scenario files, the judge of expected alerts, and acceptance 3: the shipped scenarios pass
against a real `carewatch serve`."""

from __future__ import annotations

import random
import re
import subprocess
import sys
import time
from pathlib import Path
from statistics import mean

import orjson
import pytest

from devices.decode import Decoder
from devices.model import DeviceEvent, Rejection
from devices.registry import Registry, load_site
from devices.yamlconf import ConfigError
from simulators import judge as jg
from simulators import scenario as sc
from simulators.models import DeviceModel, Out, actions_for
from tests.conftest import ROOT
from tests.servers import CarewatchProcess

SCENARIOS = ROOT / "examples" / "scenarios"
RIVERSIDE = SCENARIOS / "riverside.site.yaml"
T0 = 1_795_300_000_000


@pytest.fixture(scope="module")
def home() -> Registry:
    return load_site(RIVERSIDE)


def scenario_files() -> list[Path]:
    """The nursing-home scenarios (the home-bed ones: tests/test_home_scenarios.py)."""
    return sorted(
        p
        for p in SCENARIOS.glob("*.yaml")
        if not p.name.endswith((".site.yaml", ".rules.yaml"))
        and not p.name.startswith(("home", "round"))  # rounds: tests/test_round_scenario.py
    )


def model(home: Registry, device_id: str, start_hour: float = 0.0, seed: int = 3) -> DeviceModel:
    dev = home.by_id(device_id)
    assert dev is not None
    return DeviceModel(dev, random.Random(seed), start_hour)


def run_for(m: DeviceModel, hours: float, every_s: float) -> list[tuple[float, dict]]:
    """The device's telemetry over simulated time (no waiting: time is a number)."""
    out = []
    t = 0.0
    while t <= hours * 3600:
        out.append((t, m.telemetry(T0 + int(t * 1000), t)))
        t += every_s
    return out


# --- device models ------------------------------------------------------------------------


def test_a_residents_heart_rate_follows_the_day_and_stays_normal(home):
    m = model(home, "w-204-1")
    day = run_for(m, 24, 30)
    hr = [b["heart_rate_bpm"] for _, b in day]
    assert min(hr) >= 45 and max(hr) <= 115
    by_activity: dict[str, list[int]] = {}
    for t, b in day:
        by_activity.setdefault(m.day.activity(t / 3600), []).append(b["heart_rate_bpm"])
    assert mean(by_activity["sleep"]) + 20 < mean(by_activity["walk"])
    steps_at = {round(t): b["steps"] for t, b in day}
    walk_start, walk_end = m.day.walks[0]
    assert (
        steps_at[round(walk_end * 3600 / 30) * 30] - steps_at[round(walk_start * 3600 / 30) * 30]
        > 1000
    )
    assert day[-1][1]["battery_pct"] < day[0][1]["battery_pct"]  # it drains


def test_fire_water_pressure_cycles_with_the_jockey_pump_and_decays_when_it_fails(home):
    m = model(home, "p-b1-main")
    day = run_for(m, 24, 5)
    p = [b["pressure_mpa"] for _, b in day]
    assert m.p_on - 0.01 <= min(p) and max(p) <= m.p_off + 0.01
    rises = sum(1 for a, b in zip(p, p[12:], strict=False) if b - a > 0.005)
    assert rises > 0, "the jockey pump tops the network up"
    # never a false `water_pressure_falling` even at 60x: the rule compares readings up to
    # 60 s (real) apart, at least 10 s: 1 h and 10 min of simulated time
    for span in (720, 120):  # readings 5 s apart
        worst = max(a - b for a, b in zip(p, p[span:], strict=False))
        assert worst < 0.1 * (span * 5 / 60) / 60, span
    m.act("pump_fail", {"leak_mpa_per_min": 0.1}, T0, 24 * 3600)
    after = run_for(m, 0.1, 5)  # its clock goes on from where it was
    assert after[-1][1]["pressure_mpa"] < 0.10


def test_electrical_panels_follow_their_load_curve_and_a_bad_terminal_overheats(home):
    kitchen = model(home, "e-1-kitchen")
    day = dict(run_for(kitchen, 24, 60))
    assert day[11 * 3600]["current_a"] > 3 * day[3 * 3600]["current_a"]  # lunch is cooked
    temps = [b["cable_temp_c"] for b in day.values()]
    residual = [b["residual_current_ma"] for b in day.values()]
    assert max(temps) < 60 and max(residual) < 300 and min(residual) > 50
    kitchen.act("overheat", {"target_c": 95}, T0, 24 * 3600 + 60)
    hot = run_for(kitchen, 0.1, 10)
    assert hot[-1][1]["cable_temp_c"] > 70


def test_every_message_the_simulated_home_sends_is_one_the_service_accepts(home):
    """Periodic messages of every device and every happening each device can play, through
    the real decoder of the same site: the simulator speaks the contract."""
    dec = Decoder(home)
    decoded = []
    for i, dev in enumerate(home.devices()):
        m = DeviceModel(dev, random.Random(i), start_hour=6.0)
        outs: list[Out] = []
        for k in range(30):
            outs += m.periodic(T0 + k * 60_000, k * 60.0)
        for action in actions_for(dev):
            if action not in ("link_down", "link_up"):
                outs += m.act(action, {}, T0 + 3_600_000, 3600.0)
        for out in outs:
            if out.kind in ("zigbee", "availability"):
                suffix = "/availability" if out.kind == "availability" else ""
                topic = f"zigbee2mqtt/{dev.friendly_name}{suffix}"
            else:
                topic = f"carewatch/v1/{dev.site}/{dev.id}/{out.kind}"
            decoded.append((dev.id, dec.decode(topic, orjson.dumps(out.payload), T0 + 3_600_000)))
    rejected = [(d, r.reason, r.detail) for d, r in decoded if isinstance(r, Rejection)]
    assert rejected == []
    events = {(d, r.event) for d, r in decoded if isinstance(r, DeviceEvent)}
    assert {("w-204-1", "fall"), ("z-sos-204", "press"), ("z-smoke-kitchen", "test")} <= events
    assert ("z-leak-204", "leak") in events and ("z-vib-walker-301", "drop") in events


# --- scenario files -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("at", "start", "seconds"),
    [
        ("03:10", "03:08", 120),
        ("00:10", "23:50", 1200),  # past midnight
        ("03:08:30", "03:08", 30),
        (45, "08:00", 45),
        ("+90s", "08:00", 90),
        ("+2m", "08:00", 120),
        ("+1.5h", "08:00", 5400),
        ("90", "08:00", 90),
    ],
)
def test_timeline_times(at, start, seconds):
    assert sc.offset(at, start) == seconds


def _scenario(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "s.yaml"
    p.write_text(text, encoding="utf-8")
    return p


def test_a_bad_scenario_file_names_file_line_and_field(tmp_path):
    p = _scenario(
        tmp_path,
        "title: t\ntimeline:\n  - {at: '03:10', device: w-204-1}\n  - {at: soon, device: x, do: fall}\n",
    )
    with pytest.raises(ConfigError) as e:
        sc.load(p)
    text = "\n".join(e.value.problems)
    assert f"{p}:3: timeline.0" in text and "exactly one of `do` and `publish`" in text


def test_scenario_problems_against_the_site(tmp_path, home):
    p = _scenario(
        tmp_path,
        """title: t
timeline:
  - {at: 1, device: ghost, do: fall}
  - {at: 2, device: sd-305, do: fall}
  - {at: 3, device: w-204-1, do: fall, with: {kind: moonwalk}}
  - {at: 4, device: sd-305, publish: {kind: zigbee, payload: {smoke: true}}}
  - {at: 5, device: z-leak-204, publish: {kind: event, payload: {event: leak}}}
""",
    )
    problems = sc.problems(sc.load(p), home)
    assert len(problems) == 5, problems
    assert "device 'ghost' is not in site riverside" in problems[0]
    assert "sd-305 (smoke_detector) cannot 'fall'; it can: smoke, clear" in problems[1]
    assert "unknown movement 'moonwalk'" in problems[2]
    assert "not a Zigbee2MQTT device" in problems[3]
    assert "speaks Zigbee2MQTT" in problems[4]


def _iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}+00:00"


def _alert(rule: str, device: str, raised: int, last: int | None = None, sev: str = "high"):
    iso = _iso
    return {
        "rule": rule,
        "device_id": device,
        "severity": sev,
        "raised_at": iso(raised),
        "last_at": iso(last or raised),
    }


def test_the_judge_reports_met_late_missing_forbidden_and_unexpected_alerts(tmp_path):
    loaded = sc.load(
        _scenario(
            tmp_path,
            """title: judged
quiet: true
timeline:
  - {at: 0, device: w-204-1, do: fall}
  - {at: 1, device: sd-305, do: smoke}
  - {at: 2, device: p-b1-main, do: pump_fail}
expect:
  - {rule: fall, device: w-204-1, within_s: 5, severity: critical}
  - {rule: smoke, device: sd-305, within_s: 5}
  - {rule: water_pressure_low, device: p-b1-main, within_s: 10}
  - {rule: device_offline, device: w-204-1, absent: true}
""",
        )
    )
    start = T0
    played = [T0 + 100, T0 + 1_100, T0 + 2_100]
    alerts = [
        _alert("fall", "w-204-1", T0 + 1_600, sev="critical"),  # 1.5 s: met
        _alert("smoke", "sd-305", T0 + 9_100),  # 8 s: late
        _alert("device_offline", "w-204-1", T0 + 3_000),  # must not come
        _alert("tamper", "p-b1-main", T0 + 4_000),  # nobody expected it
        _alert("call", "cb-101-1", T0 + 3_000),  # not this scenario's device
        _alert("fall", "w-204-1", T0 - 3_600_000, T0 - 3_000_000),  # before the run
    ]
    [report] = jg.judge([(loaded, played)], alerts, start)
    assert [o.ok for o in report.outcomes] == [True, False, False, False]
    assert report.outcomes[0].latency_s == 1.5
    assert report.unexpected == ["tamper on p-b1-main"]
    assert not report.passed
    text = "\n".join(report.lines())
    assert "fall on w-204-1 after 1.5 s (within 5 s)" in text
    assert "smoke on sd-305 raised after 8.0 s (> 5 s)" in text
    assert "water_pressure_low on p-b1-main not raised within 10 s" in text
    assert "device_offline on w-204-1 raised, and must not be" in text
    assert text.endswith("FAILED")


def test_the_shipped_scenarios_fit_the_virtual_home(home):
    files = scenario_files()
    assert len(files) >= 6
    for f in files:
        loaded = sc.load(f)
        assert loaded.site_file == RIVERSIDE.resolve()
        assert sc.problems(loaded, home) == [], f
        assert any(not x.absent for x in loaded.scenario.expect), f"{f} expects no alert"


# --- acceptance 3: against the real service -----------------------------------------------


@pytest.mark.integration
def test_the_shipped_scenarios_pass_against_a_running_service(tmp_path, broker):
    """All scenarios at once, the whole home in the background, as `carewatch simulate`
    runs them for a user."""
    service = CarewatchProcess(tmp_path / "cw", broker.url, RIVERSIDE)
    service.start()
    started = time.monotonic()
    try:
        files = scenario_files()
        argv = [sys.executable, "-m", "carewatch", "simulate", "--mqtt-url", broker.url]
        argv += ["--check-url", service.url, "--check-token", service.token, "--speed", "60"]
        for f in files:
            argv += ["--scenario", str(f)]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
        elapsed = time.monotonic() - started
        print(done.stdout)
        assert done.returncode == 0, done.stdout + done.stderr[-3000:] + service.log()[-3000:]
        assert f"{len(files)} of {len(files)} scenarios passed" in done.stdout
        assert len(re.findall(r"^  PASSED$", done.stdout, re.M)) == len(files)
        assert elapsed < 60, f"the scenarios took {elapsed:.0f} s"
    finally:
        service.stop()
