"""Secrets are resolved once, in the composition root, from an environment mapping passed
in: the webhook targets' HMAC keys reach the senders and the daily report as bytes, and a
webhook without its key stops the service before it starts."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from alerting.reports.daily import webhook_for
from alerting.ruleset import Notify, Target
from carewatch.runtime import build_runtime
from carewatch.secrets import env_secret, target_secrets
from carewatch.settings import Settings
from devices.yamlconf import ConfigError

FIRE = Target(url="https://119.example/cw", format="cap", secret_env="FIRE_KEY")
PAGER = Target(url="https://pager.example/hook", secret_env="PAGER_KEY")
FAMILY = Target(kind="log")


def test_env_secret_is_bytes_or_none():
    assert env_secret({"K": "s3cret"}, "K") == b"s3cret"
    assert env_secret({"K": ""}, "K") is None
    assert env_secret({}, "K") is None


def test_each_webhook_target_gets_its_key_by_name():
    env = {"FIRE_KEY": "fire-key", "PAGER_KEY": "pager-key"}
    targets = {"fire_brigade": FIRE, "supervisor": PAGER, "family": FAMILY}
    assert target_secrets(targets, env) == {
        "fire_brigade": b"fire-key",
        "supervisor": b"pager-key",
    }


def test_every_webhook_without_its_key_is_named():
    targets = {"fire_brigade": FIRE, "supervisor": PAGER, "family": FAMILY}
    with pytest.raises(ConfigError) as missing:
        target_secrets(targets, {"PAGER_KEY": ""})
    assert missing.value.problems == [
        "notify.targets.fire_brigade: set FIRE_KEY (HMAC key)",
        "notify.targets.supervisor: set PAGER_KEY (HMAC key)",
    ]


def test_the_service_refuses_to_start_without_a_webhooks_key(tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "notify:\n  targets:\n"
        "    supervisor: {url: 'https://pager.example/hook', secret_env: PAGER_KEY}\n"
    )
    settings = Settings(rules_file=rules, data_dir=tmp_path / "data")
    with pytest.raises(ConfigError, match="PAGER_KEY"):
        build_runtime(settings, env={})
    assert not (tmp_path / "data").exists()  # refused before anything was made


def _service(notify: str | None, targets: dict[str, Target]) -> SimpleNamespace:
    site = SimpleNamespace(daily_report=SimpleNamespace(notify=notify))
    rules = SimpleNamespace(notify=Notify(targets=targets))
    return SimpleNamespace(registry=SimpleNamespace(site=site), rules=rules)


def test_the_daily_report_gets_its_targets_key_as_bytes():
    service = _service("supervisor", {"supervisor": PAGER, "family": FAMILY})
    hook = webhook_for(service, {"supervisor": b"pager-key"})
    assert hook is not None
    assert (hook.url, hook.secret, hook.timeout_s) == (PAGER.url, b"pager-key", 5)
    assert webhook_for(_service(None, {}), {}) is None
    with pytest.raises(ConfigError, match="PAGER_KEY"):
        webhook_for(service, {})
    with pytest.raises(ConfigError, match="no webhook target"):
        webhook_for(_service("family", {"family": FAMILY}), {})
