"""One chaos test's run (service, stream, staff) and its ending in an exact reconciliation
(tests/test_chaos.py, tests/test_chaos_clock.py). Registered as a pytest plugin by
tests/conftest.py for its fixtures: `receiver`, the chaos webhook receiver, and
`chaos_outcomes`, every run's outcome of the session, summed up in one table at its end."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from alerting.notify.receiver import Receiver
from ingest.broker import free_port
from tests.chaos_processes import (
    EVENT_EVERY,
    RATE,
    SCALE,
    SECRET,
    ChaosService,
    Staff,
    Stream,
    ack_all,
    mode,
)
from tests.chaos_reconcile import Check, Outcome, settle, show, summary, unescalated, write_results

SETTLE_S = 40 + 120 * SCALE  # a webhook retry backs off up to 60 s


@pytest.fixture(scope="session")
def chaos_outcomes(pytestconfig: pytest.Config) -> Iterator[list[Outcome]]:
    """Every chaos run's outcome; at the end one summary table of all of them, whichever
    test modules they ran in, and the results file."""
    outcomes: list[Outcome] = []
    yield outcomes
    if outcomes:
        path = write_results(outcomes)
        show(pytestconfig, summary(outcomes) + f"\n  results: {path}\n")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """The signed-webhook receiver the chaos service notifies (tests/test_receiver.py has
    its own)."""
    # the clock test moves the service's clock by hours on purpose: a receiver checking
    # Standard Webhooks timestamps would refuse it (docs/notifications.md), so this one
    # allows a day; every other check of the receiver stays
    r = Receiver("127.0.0.1", free_port(), SECRET.encode(), tolerance_s=86_400).start()
    yield r
    r.stop()


class Run:
    """One test's service, stream and staff; `finish` reconciles and reports."""

    def __init__(
        self,
        request: pytest.FixtureRequest,
        fault: str,
        service: ChaosService,
        influx: Any,
        receiver: Receiver,
        stream: Stream,
    ) -> None:
        self.request = request
        self.fault = fault
        self.service = service
        self.influx = influx
        self.receiver = receiver
        self.stream = stream
        self.staff: Staff | None = None
        self.t0 = time.monotonic()
        self.facts: dict[str, Any] = {}
        # forward steps of the service's wall clock: (wall ms just after, step ms)
        self.clock_steps: list[tuple[int, int]] = []

    @classmethod
    def begin(
        cls,
        request: pytest.FixtureRequest,
        fault: str,
        tmp_path,
        broker,
        influx,
        receiver: Receiver,
        registry,
        tag: str,
        **kw: Any,
    ) -> Run:
        clock = kw.pop("clock", None)
        rate = kw.pop("rate", RATE)
        event_every = kw.pop("event_every", EVENT_EVERY)
        service = ChaosService(
            tmp_path / "cw", broker.url, influx.url if influx else None, receiver.port, **kw
        )
        if clock is not None:
            service.env.update(clock.env)
        try:
            service.start()
        except BaseException:
            service.stop()
            raise
        stream = Stream(broker.port, registry, tag, rate, event_every)
        run = cls(request, fault, service, influx, receiver, stream)
        stream.start()
        run.staff = Staff(service).start()
        return run

    def events_logged(self) -> int:
        return self.service.count(
            "SELECT count(*) FROM event_log WHERE key LIKE ?", f"id:{self.stream.tag}-%"
        )

    def finish(self, quiet: bool = False) -> Outcome:
        self.stream.stop()
        if self.staff is not None:
            self.staff.stop()
        if quiet:  # re-notification policies: acknowledge everything so the count settles
            self.facts["acknowledged at the end"] = ack_all(self.service)
        checks, took = settle(self.service, self.influx, self.receiver, self.stream, SETTLE_S)
        late = unescalated(self.service, steps=self.clock_steps)
        checks.append(Check("calls/falls past their step, never escalated", 0, *[len(late)] * 2))
        self.facts.setdefault("messages sent", self.stream.sent)
        outcome = Outcome(
            self.fault,
            mode(),
            self.stream.rate,
            time.monotonic() - self.t0,
            took,
            checks,
            self.facts,
        )
        self.request.getfixturevalue("chaos_outcomes").append(outcome)
        show(self.request.config, outcome.table())
        assert self.stream.errors == [], self.stream.errors
        detail = "".join(
            f"\nalert {i}: {self.service.read('SELECT * FROM alerts WHERE id = ?', i)}"
            f" audit {self.service.read('SELECT * FROM audit WHERE alert_id = ?', i)}"
            for i in late[:5]
        )
        assert outcome.ok, (
            outcome.table() + detail + "\n--- service log ---\n" + self.service.log()[-4000:]
        )
        return outcome

    def close(self) -> None:
        if self.staff is not None:
            self.staff.stop()
        self.stream.close()
        self.service.stop()
