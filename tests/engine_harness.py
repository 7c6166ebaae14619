"""An engine on a temporary database and a fake clock, fed decoded messages directly
(the `h` fixture of tests/conftest.py), and the questions tests ask of it."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import CollectorRegistry

from alerting.engine import Engine
from alerting.items import Command, CommandResult, DeviceCommand, Health, Incoming
from alerting.model import Alert, Change
from alerting.ruleset import RuleSet
from devices.decode import Decoder
from devices.ports import FakeClock
from devices.registry import Registry
from ingest.deadletter import DeadLetterLog
from ingest.spool import Spool
from ingest.sqlite import connect


class Harness:
    def __init__(
        self,
        path: Path,
        registry: Registry,
        clock: FakeClock | None = None,
        rules: RuleSet | None = None,
    ) -> None:
        self.path = path
        self.registry = registry
        self.rules = rules or RuleSet.defaults()
        self.clock = clock or FakeClock()
        self.decoder = Decoder(registry)
        self.changes: list[Change] = []
        self.start()

    def start(self) -> None:
        self.conn = connect(self.path, synchronous="OFF")
        self.engine = Engine(
            self.conn,
            self.registry,
            self.rules,
            self.clock,
            [Spool(embedded=True), DeadLetterLog()],
            CollectorRegistry(),
        )
        self.engine.setup()

    def restart(self) -> None:
        self.conn.close()
        self.start()

    def send(self, device: str, kind: str, payload: bytes | str) -> None:
        raw = payload.encode() if isinstance(payload, str) else payload
        d = self.decoder.decode(f"carewatch/v1/sunrise/{device}/{kind}", raw, self.clock.now_ms())
        self.changes += self.engine.process([Incoming(d)]).changes

    def tick(self, seconds: float = 0) -> None:
        self.clock.advance(seconds)
        self.changes += self.engine.process([]).changes

    def command(
        self, action: str, alert_id: int, by: str = "nurse-li", duration_s: float | None = None
    ) -> CommandResult:
        cmd = Command(action, alert_id, by, "checked", duration_s)  # type: ignore[arg-type]
        r = self.engine.process([cmd])
        self.changes += r.changes
        return r.results[0]

    def device_command(
        self, action: str, device_id: str, duration_s: float | None = None, by: str = "tech-wu"
    ) -> CommandResult:
        cmd = DeviceCommand(action, device_id, by, "battery swap", duration_s)  # type: ignore[arg-type]
        r = self.engine.process([cmd])
        self.changes += r.changes
        return r.results[0]

    def health(self, component: str, ok: bool) -> None:
        self.changes += self.engine.process([Health(component, ok, "probe")]).changes

    def actions(self, action: str) -> list[Change]:
        return [c for c in self.changes if c.action == action]

    def open(self, rule: str | None = None) -> list[Alert]:
        return [a for a in self.engine.open_alerts() if rule is None or a.rule == rule]

    def one(self, rule: str) -> Alert:
        [a] = self.open(rule)
        return a


def offline(h: Harness, device: str) -> list[Alert]:
    """The open `device_offline` alerts of one device."""
    return [a for a in h.open("device_offline") if a.device_id == device]


def alert_rows(h: Harness, rule: str) -> int:
    """Every alert row of a rule, open or closed."""
    return int(h.conn.execute("SELECT count(*) FROM alerts WHERE rule = ?", (rule,)).fetchone()[0])
