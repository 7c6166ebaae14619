"""The fire policy (NFPA 72 positive alarm sequence, GB 50440 forwarding):

- a `watch` alarm (a smoke detector) shows at once; not acknowledged within 15 s, it is
  forwarded to the fire brigade; acknowledged, staff have 180 s to confirm (forward now)
  or dismiss it as a false alarm with a reason; otherwise it is forwarded;
- a `forward` alarm (a second detector in the zone, smoke plus heat, a manual call point)
  is forwarded at once, and confirms the zone's watched alarms.

A forward is a `forward` change; the outbox sends it, and every later change of that alert
goes to the brigade as a follow-up with the same reference. Deadlines are rows, so a
restart does not reset the 15 s or the 180 s.
"""

from __future__ import annotations

from alerting.deadlines import Deadline, Deadlines
from alerting.lifecycle import Lifecycle
from alerting.model import Alert, AlertState, Change
from alerting.rulebook import Rulebook
from alerting.rules import AnyRule
from alerting.ruleset import RuleSet

FIRE = "fire"  # deadline kind; value: "ack" (15 s) or "investigate" (180 s)


class FirePolicy:
    """Runs the fire policy inside the engine's transaction: arms the ack and investigate deadlines
    from the batch's changes and forwards alarms to the brigade."""

    def __init__(self, rules: RuleSet | Rulebook, deadlines: Deadlines, life: Lifecycle) -> None:
        self._rules = Rulebook.of_one(rules)
        self._deadlines = deadlines
        self._life = life

    def _rule(self, a: Alert) -> AnyRule | None:
        return self._rules.named(a.site, a.rule)

    def _key(self, a: Alert) -> tuple[str, str, str, str]:
        return (FIRE, a.rule, a.site, str(a.id))

    def observe(self, changes: list[Change], start: int, now: int) -> None:
        """React to the batch's changes from index `start` on (forwards append more)."""
        i = start
        while i < len(changes):
            c = changes[i]
            i += 1
            policy = self._rules.of(c.alert.site).fire_policy
            if not policy.enabled:
                continue
            alert = self._life.by_id.get(c.alert.id)
            rule = self._rule(c.alert)
            if rule is None or rule.fire is None:
                continue
            if c.alert.state is AlertState.CLOSED:
                self._deadlines.cancel(self._key(c.alert))
                continue
            if alert is None or alert.forwarded_at is not None:
                continue
            if rule.fire == "forward" and c.action in ("raise", "repeat"):
                self.forward(alert, now, None, f"confirmed: {rule.name}")
                self._confirm_zone(alert, now)
            elif rule.fire == "watch" and c.action == "raise":
                due = now + int(policy.ack_within_s * 1000)
                self._deadlines.set(
                    Deadline(FIRE, alert.rule, alert.site, str(alert.id), due, now, "ack")
                )
            elif rule.fire == "watch" and c.action == "ack":
                pending = self._deadlines.get(self._key(alert))
                if pending is not None and pending.value == "ack":
                    due = now + int(policy.investigate_s * 1000)
                    self._deadlines.set(
                        Deadline(
                            FIRE, alert.rule, alert.site, str(alert.id), due, now, "investigate"
                        )
                    )

    def _confirm_zone(self, confirmed: Alert, now: int) -> None:
        """A confirming alarm forwards the watched alarms of its floor with it."""
        for a in list(self._life.open.values()):
            rule = self._rule(a)
            if (
                rule is not None
                and rule.fire == "watch"
                and a.forwarded_at is None
                and a.site == confirmed.site
                and a.floor == confirmed.floor
            ):
                self.forward(a, now, None, f"confirmed by {confirmed.rule}")

    def due(self, d: Deadline, now: int) -> None:
        """A fire deadline came due: forward the alarm, unless it is closed, already forwarded, or
        was acknowledged before its ack deadline."""
        alert = self._life.by_id.get(int(d.subject))
        if alert is None or alert.forwarded_at is not None:
            return
        if d.value == "ack" and alert.state is AlertState.ACTIVE_ACK:
            return  # acknowledged in time (the investigate deadline replaced this one)
        why = "not acknowledged in time" if d.value == "ack" else "not resolved in time"
        self.forward(alert, now, None, why)

    def forward(self, alert: Alert, now: int, by: str | None, why: str) -> None:
        """Send the alarm to the fire brigade (a `forward` change the outbox routes), at most once
        per alert; `by` is None when the policy decides."""
        if alert.forwarded_at is not None:
            return
        self._deadlines.cancel(self._key(alert))
        alert.forwarded_at = now
        self._life.save(alert)
        target = self._rules.of(alert.site).fire_policy.target
        self._life.emit("forward", alert, alert.state, now, by, why, target)

    def confirm(self, alert: Alert, now: int, by: str, note: str | None) -> bool:
        """Staff confirm the fire: forward now. False if this is no fire alarm."""
        rule = self._rule(alert)
        if rule is None or rule.fire is None:
            return False
        self.forward(alert, now, by, note or "confirmed by staff")
        return True

    def dismiss(self, alert: Alert, now: int, by: str, reason: str) -> bool:
        """A false alarm, with its reason: closed; a forwarded one is cancelled."""
        rule = self._rule(alert)
        if rule is None or rule.fire is None:
            return False
        self._deadlines.cancel(self._key(alert))
        self._life.close(alert, now, by, reason, "dismiss")
        return True
