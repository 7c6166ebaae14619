"""Secrets resolved once, here in the composition root: the HMAC keys of the webhook
targets (notifications, the daily report) and of `carewatch webhook-receiver` are read from
the environment mapping the caller passes in (`os.environ` in the service) and handed to
the parts as bytes. Nothing under alerting/ reads the environment."""

from __future__ import annotations

from collections.abc import Mapping

from alerting.ruleset import Target
from devices.yamlconf import ConfigError


def env_secret(env: Mapping[str, str], var: str) -> bytes | None:
    """The value of `var` as bytes; None when it is unset or empty."""
    value = env.get(var, "")
    return value.encode() if value else None


def target_secrets(targets: Mapping[str, Target], env: Mapping[str, str]) -> dict[str, bytes]:
    """Each webhook or gateway target's HMAC key (or a gateway's bearer token) by target
    name. A target without its key cannot be signed: ConfigError naming every such target,
    so the service refuses to start."""
    keys: dict[str, bytes] = {}
    missing = []
    for name, target in targets.items():
        if target.kind not in ("webhook", "gateway") or target.secret_env is None:
            continue
        secret = env_secret(env, target.secret_env)
        if secret is None:
            what = "HMAC key" if target.kind == "webhook" or target.auth == "hmac" else "token"
            missing.append(f"notify.targets.{name}: set {target.secret_env} ({what})")
        else:
            keys[name] = secret
    if missing:
        raise ConfigError(missing)
    return keys
