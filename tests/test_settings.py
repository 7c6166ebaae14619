from __future__ import annotations

import pytest
from pydantic import ValidationError

from carewatch.settings import load_settings


def test_environment_wins_over_the_file_and_site_file_is_relative_to_it(tmp_path, monkeypatch):
    cfg = tmp_path / "cw.yaml"
    cfg.write_text("mqtt_url: mqtt://127.0.0.1:1883\nhttp_port: 9000\nsite_file: site.yaml\n")
    monkeypatch.setenv("CAREWATCH_HTTP_PORT", "9100")
    s = load_settings(cfg)
    assert (s.mqtt_url, s.http_port) == ("mqtt://127.0.0.1:1883", 9100)
    assert s.site_file == (tmp_path / "site.yaml").resolve()


def test_unsafe_or_unknown_settings_are_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("CAREWATCH_API_TOKEN", "short")
    with pytest.raises(ValidationError, match="at least 16"):
        load_settings()
    monkeypatch.delenv("CAREWATCH_API_TOKEN")
    cfg = tmp_path / "cw.yaml"
    cfg.write_text("mqtt_ulr: mqtt://x\n")
    with pytest.raises(ValidationError, match="mqtt_ulr"):
        load_settings(cfg)
