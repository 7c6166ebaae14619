"""The rules of every watched site: a site's own rules file, else the service's.

One service watches many sites (docs/sites.md); most share the service's rule set (one
object, resolved once per device type), a few bring their own rules file: their own
notification targets, escalation policies, fire policy, overrides. A site's time zone is
its site file's `timezone`, else its rule set's. Everything in the engine that needs a
rule, a policy, a target or a zone asks the Rulebook with the site in hand.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from datetime import tzinfo
from zoneinfo import ZoneInfo

from alerting.model import Severity
from alerting.rules import AnyRule, EscalationPolicy, SystemRule
from alerting.ruleset import DeviceRules, RuleSet
from devices.registry import Device


class Rulebook:
    """Per-site rule sets over one default; `of(site)` is the one to use for a site."""

    def __init__(
        self,
        default: RuleSet,
        own: Mapping[str, RuleSet] | None = None,
        zones: Mapping[str, str] | None = None,
        home_sites: frozenset[str] = frozenset(),
    ) -> None:
        self.default = default
        self._own = dict(own or {})
        # sites of kind home_bed: their alerts climb the home policies (`home_by_severity`)
        self.home_sites = home_sites
        for site, zone in (zones or {}).items():
            # a site in another zone than its rule set: the same rules (shared targets,
            # caches) read in its own zone, so reports and time windows need no extra case
            base = self.of(site)
            if str(base.tz) != zone:
                local = copy.copy(base)
                local.tz = ZoneInfo(zone)
                self._own[site] = local

    @classmethod
    def of_one(cls, rules: RuleSet | Rulebook) -> Rulebook:
        """A Rulebook as given, or one rule set for every site (a single-site service,
        the tests' engine harness)."""
        return rules if isinstance(rules, Rulebook) else cls(rules)

    def of(self, site: str) -> RuleSet:
        """The rule set `site` follows."""
        return self._own.get(site, self.default)

    def groups(self) -> list[tuple[RuleSet, frozenset[str] | None]]:
        """Each distinct set of notification targets with the sites that use it: the
        default's entry says None (every site not listed with another), so a service of
        one rule set filters nothing. One delivery worker per target of each group."""
        out: list[tuple[RuleSet, frozenset[str] | None]] = [(self.default, None)]
        by_set: dict[int, tuple[RuleSet, set[str]]] = {}
        for site, rs in self._own.items():
            if rs.notify is self.default.notify:
                continue  # the default's targets (a copy in another zone)
            by_set.setdefault(id(rs.notify), (rs, set()))[1].add(site)
        out += [(rs, frozenset(sites)) for rs, sites in by_set.values()]
        return out

    def own_sites(self) -> frozenset[str]:
        """Sites whose notifications go to targets of their own rules file."""
        return frozenset(
            site for site, rs in self._own.items() if rs.notify is not self.default.notify
        )

    def tz(self, site: str) -> tzinfo:
        """The site's time zone: its site file's, else its rule set's."""
        return self.of(site).tz

    def for_device(self, dev: Device) -> DeviceRules:
        """The device's effective rules under its site's rule set."""
        return self.of(dev.site).for_device(dev)

    def rule(self, name: str, dev: Device | None, site: str) -> AnyRule | None:
        """The rule as it applies to `dev` in `site` (dev None: site-level); None if off."""
        return self.of(site).rule(name, dev)

    def named(self, site: str, name: str) -> AnyRule | None:
        """The rule of that name in the site's set, enabled or not (an old alert's rule)."""
        return self.of(site).rules.get(name)

    def policy(self, site: str, rule: AnyRule, severity: Severity) -> EscalationPolicy | None:
        """The escalation policy of `rule` at `severity` under the site's rule set (a home
        bed's own policies for a site of kind home_bed)."""
        return self.of(site).policy(rule, severity, home=site in self.home_sites)

    def title(self, name: str, lang: str, site: str | None = None) -> str:
        """What a reader sees for a rule (the site's rules file's words win)."""
        return (self.default if site is None else self.of(site)).title(name, lang)

    @property
    def system(self) -> dict[str, SystemRule]:
        """The watch's own fault rules: the service's rule set (they are not a site's)."""
        return self.default.system

    @property
    def signal_window_ms(self) -> int:
        """The longest correlation or repetition window of any rule set."""
        return max(rs.signal_window_ms for rs, _ in self.groups())
