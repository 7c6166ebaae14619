"""What `carewatch demo` plays: one home (the default) or a small district of two homes and
a home bed (`--sites 3`, examples/sites), each site simulated by its own devices, with a
first incident scripted so every screen has something to show within a minute."""

from __future__ import annotations

import shutil
from pathlib import Path

from carewatch.settings import ROOT, Settings
from devices.ports import Clock
from devices.registry import Registry
from simulators.home import SimulatedHome
from simulators.models import Step, scenario

EXAMPLE_SITES = ROOT / "examples" / "sites"
EXAMPLE_RULES = ROOT / "examples" / "district-rules.yaml"  # contacts through the log
EXAMPLE_ACCESS = ROOT / "examples" / "access.yaml"  # hb-wang's visiting worker, cw-zhao
MAX_SITES = 3
DEMO_WORKER = "cw-zhao, PIN 2468"  # examples/access.yaml's demo PIN
DEMO_OPERATOR = "cw_demo-call-centre-only-for-the-demo"  # examples/access.yaml's call centre


def demo_sites(count: int, data_dir: Path) -> Path | None:
    """A folder with the first `count` example sites (None for one: the demo home's file
    alone, as before)."""
    if count <= 1:
        return None
    if count > MAX_SITES:
        raise SystemExit(f"carewatch demo: --sites takes 1 to {MAX_SITES}")
    folder = data_dir / "sites"
    folder.mkdir(parents=True, exist_ok=True)
    files = sorted(p for p in EXAMPLE_SITES.iterdir() if p.suffix == ".yaml")[:count]
    for f in files:
        shutil.copyfile(f, folder / f.name)  # follows the symlink to demo-site.yaml
    return folder


def demo_rules(count: int) -> Path | None:
    """The district's rules file when the home bed is in: its contacts are reached through
    the log, so the climb from the operator to family and the community centre is played
    (and shows on the console) without an SMS gateway."""
    return EXAMPLE_RULES if count >= MAX_SITES else None


def demo_access(count: int) -> Path | None:
    """The example access file for a district with the home bed: its visit plan's worker
    logs in on the phone page (/visit)."""
    return EXAMPLE_ACCESS if count >= MAX_SITES else None


def first_incident(registry: Registry, site: str) -> list[Step]:
    """For a site other than the demo home: a call from its first call button soon after
    the start (a home bed's one-touch terminal), a fall of its first wearable later."""
    devices = registry.devices(site)
    callers = ("home_terminal", "call_button")  # a home bed calls from its terminal
    call = next((d for c in callers for d in devices if d.type.name == c), None)
    band = next((d.id for d in devices if d.type.name == "wearable"), None)
    steps = []
    if call is not None:
        press: dict[str, object] = {"event": "press"}
        if call.type.name == "call_button":
            press["button"] = "pendant"
        steps.append(Step(15, call.id, "event", press, "call"))
    if band is not None and registry.sites[site].kind == "home":
        steps.append(Step(45, band, "event", {"event": "fall", "confidence": 0.9}, "fall"))
    return steps


def demo_homes(
    registry: Registry, settings: Settings, clock: Clock, scenario_name: str
) -> list[SimulatedHome]:
    """One simulated home per site; the demo home plays the chosen built-in scenario."""
    assert settings.mqtt_url is not None
    homes = []
    for sid, site in registry.sites.items():
        one = registry.only(sid)
        known = {d.id for d in one.devices()}
        steps = scenario(scenario_name)
        if not {s.device for s in steps} <= known:
            steps = first_incident(registry, sid)
        homes.append(
            SimulatedHome(
                one,
                settings.mqtt_url,
                clock,
                steps,
                settings.mqtt_prefix,
                zigbee_prefix=site.zigbee_prefix or settings.zigbee_prefix,
            )
        )
    return homes


def banner_lines(registry: Registry, url: str) -> list[str]:
    """The screens of each site, the district page and (with a home bed) the call-centre
    console, for the banner."""
    patrol = []  # the fire patrol's phone page, where a home has routes
    if any(s.rounds is not None for s in registry.sites.values()):
        patrol.append(f"  防火巡查 / fire patrol (phone):  {url}patrol  (a staff PIN below)")
    if len(registry.sites) == 1:
        return [f"  值班屏 / duty screen:  {url}", *patrol]
    lines = [f"  辖区总览 / district view:  {url}district"]
    if any(s.kind == "home_bed" for s in registry.sites.values()):
        lines.append(f"  呼叫中心 / call-centre console:  {url}console?token={DEMO_OPERATOR}")
    for sid, site in registry.sites.items():
        lines.append(f"  {site.name}:  {url}?site={sid}")
    if any(s.visits is not None for s in registry.sites.values()):
        lines.append(f"  巡访 / welfare visits (phone):  {url}visit  ({DEMO_WORKER})")
    return [*lines, *patrol]
