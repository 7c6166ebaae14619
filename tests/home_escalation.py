"""A home bed for the escalation tests: its site file (one resident, two family members,
the community centre; the son has quiet hours 23:00-07:00 and voice only), rules with an
SMS and a voice gateway target, and an engine harness on it with a fake clock."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import CollectorRegistry

from alerting.engine import Engine
from alerting.items import Incoming
from alerting.rulebook import Rulebook
from alerting.ruleset import Notify, RuleSet
from devices.ports import FakeClock
from devices.registry import Registry, load_site
from ingest.deadletter import DeadLetterLog
from ingest.spool import Spool
from ingest.sqlite import connect
from tests.engine_harness import Harness

SITE = "hb-test"
# the fake clock's start, 1_795_300_000_000 ms, is 06:26:40 in Asia/Shanghai: the son's
# quiet hours (23:00-07:00) still hold
SITE_YAML = """\
id: hb-test
kind: home_bed
name: 测试家庭床位
address: 杭州市测试路 1 号
residents:
  - id: r-1
    display_name: 测试老人
    contacts:
      - {id: daughter, role: family, name: 李敏, relation: 女儿, phone: "138 0000 1234"}
      - {id: son, role: family, name: 李强, phone: "+86 139 0000 5678", channels: [voice],
         quiet_hours: {start: "23:00", end: "07:00"}}
      - {id: centre, role: community, name: 社区服务中心, phone: "0571-8800 0000"}
devices:
  - {id: hbt-call, type: call_button, room: home, resident: r-1}
  - {id: hbt-leak, type: water_leak, room: home}
"""
PHONES = ("+8613800001234", "+8613900005678", "+8657188000000")
NAMES = ("测试老人", "李敏", "李强", "社区服务中心")


def write_site(folder: Path, text: str = SITE_YAML) -> Path:
    path = folder / "hb-test.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def gateway_notify(url: str = "http://127.0.0.1:9/", auth: str = "hmac") -> Notify:
    gw = {"kind": "gateway", "url": url, "secret_env": "GW_KEY", "auth": auth}
    return Notify.model_validate(
        {
            "targets": {"sms_gw": gw, "voice_gw": gw},
            "contacts": {"sms": "sms_gw", "voice": "voice_gw"},
        }
    )


def home_rules(notify: Notify | None = None) -> Rulebook:
    rs = RuleSet.defaults()
    rs.notify = notify or gateway_notify()
    return Rulebook(rs, home_sites=frozenset({SITE}))


class HomeHarness(Harness):
    """The engine harness on the home bed; messages go to its topics."""

    def __init__(self, path: Path, registry: Registry, rules: Rulebook) -> None:
        self.book = rules
        super().__init__(path, registry, FakeClock(), rules.default)

    def start(self) -> None:
        self.conn = connect(self.path, synchronous="OFF")
        self.engine = Engine(
            self.conn,
            self.registry,
            self.book,  # the home bed's policies come with the Rulebook's home_sites
            self.clock,
            [Spool(embedded=True), DeadLetterLog()],
            CollectorRegistry(),
        )
        self.engine.setup()

    def send(self, device: str, kind: str, payload: bytes | str) -> None:
        raw = payload.encode() if isinstance(payload, str) else payload
        d = self.decoder.decode(f"carewatch/v1/{SITE}/{device}/{kind}", raw, self.clock.now_ms())
        self.changes += self.engine.process([Incoming(d)]).changes

    def steps(self, rule: str | None = None) -> list[tuple[str, str, str | None]]:
        """(action, target, note) of every escalation step so far (of `rule`'s alerts)."""
        return [
            (c.action, c.target or "", c.note)
            for c in self.changes
            if c.action in ("escalate", "renotify") and rule in (None, c.alert.rule)
        ]

    def rows(self) -> list[tuple[str, str, str, str]]:
        """(key, target, recipient, channel) of the outbox rows to people, in order."""
        return [
            (r[0], r[1], r[2], r[3])
            for r in self.conn.execute(
                "SELECT key, target, recipient, channel FROM outbox WHERE recipient != ''"
                " ORDER BY id"
            )
        ]


def home_harness(
    tmp_path: Path, rules: Rulebook | None = None, site: str = SITE_YAML
) -> HomeHarness:
    registry = load_site(write_site(tmp_path, site))
    return HomeHarness(tmp_path / "cw.db", registry, rules or home_rules())
