"""One Settings model from the environment (prefix CAREWATCH_) and an optional YAML file."""

from __future__ import annotations

import re
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from devices.falls import FallSettings

ROOT = Path(__file__).resolve().parent.parent
DEMO_SITE = ROOT / "examples" / "demo-site.yaml"


class Retention(BaseModel):
    """How long each kind of data is kept, in days (docs/configuration.md says why each
    default). The daily job deletes what is older; open alerts and notifications still owed
    are never deleted, whatever their age."""

    model_config = ConfigDict(extra="forbid")

    alerts_days: int = Field(
        1095, ge=30, description="closed alerts with their audit trail and maintenance log"
    )
    events_days: int = Field(7, ge=1, description="event ids kept to recognise a redelivery")
    dead_letters_days: int = Field(30, ge=1, description="rejected messages (and the cap)")
    spool_days: int = Field(30, ge=1, description="readings of the embedded store (no InfluxDB)")
    outbox_days: int = Field(90, ge=7, description="delivered and given-up notifications")
    reports_days: int = Field(1095, ge=30, description="the daily report files")
    readings_days: int = Field(
        365, ge=0, description="InfluxDB: the retention policy (1.x) or bucket (2.x); 0: for ever"
    )


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CAREWATCH_", extra="forbid", env_nested_delimiter="__"
    )
    yaml_file: ClassVar[Path | None] = None  # set by load_settings(config)

    site_file: Path = Field(DEMO_SITE, description="the site file (YAML) of a one-site service")
    sites_dir: Path | None = Field(
        None,
        description="a folder of site files, one site each (docs/sites.md); replaces site_file",
    )
    rules_file: Path | None = Field(
        None, description="the site's rule set (YAML); unset = the default rules"
    )
    mqtt_url: str | None = Field(
        None, description="mqtt://[user:pass@]host:port or mqtts://...; demo starts its own"
    )
    mqtt_ca_file: Path | None = Field(
        None, description="CA certificate for mqtts:// (a private CA); unset = system CAs"
    )
    mqtt_client_id: str = Field("carewatch-engine", description="persistent-session client id")
    service_id: str = Field(
        default_factory=lambda data: service_id_from(data["mqtt_client_id"]),
        pattern=r"^[a-z0-9-]{1,32}$",
        description="this deployment's name: its MQTT share group (`$share/<service_id>/...`)"
        " and broker account (`carewatch-<service_id>`); default: the client id in"
        " [a-z0-9-]; two services on one broker need two names (docs/scaling.md)",
    )
    mqtt_event_session: bool = Field(
        True,
        description="a second session (client id + '-events') for device events and"
        " Zigbee2MQTT state, so an alarm never queues behind telemetry at the broker",
    )
    ingest_workers: int = Field(
        0,
        ge=0,
        le=64,
        description="0: telemetry read in the service's own process; N: N worker processes"
        " share it (`$share/<service_id>/...`, client ids + '-w<k>'), the engine stays one"
        " (docs/scaling.md)",
    )
    gil_switch_ms: float = Field(
        0.5,
        gt=0,
        le=50,
        description="how long a busy thread may hold Python's GIL before a waiting one"
        " gets it (sys.setswitchinterval; CPython's default 5 ms): each hand-off of an alarm"
        " between threads waits up to this long behind telemetry (docs/performance.md)",
    )
    mqtt_prefix: str = Field("carewatch/v1", description="base topic")
    status_keepalive_s: int = Field(
        15,
        ge=5,
        le=300,
        description="keepalive of the per-site status connections: the broker announces a"
        " dead watch offline after 1.5 times this",
    )
    zigbee_prefix: str = Field("zigbee2mqtt", description="Zigbee2MQTT's base topic")
    falls: FallSettings = Field(
        default_factory=FallSettings,
        description="server-side fall detection thresholds (CAREWATCH_FALLS__IMPACT_G=...)",
    )
    influx_url: str | None = Field(None, description="InfluxDB base URL; unset = embedded store")
    influx_db: str = Field("carewatch", description="database (v1) or bucket (v2)")
    influx_token: SecretStr | None = Field(None, description="InfluxDB 2.x/3.x token")
    influx_api: Literal["v1", "v2"] = Field(
        "v1", description="v1: /write + /query (1.x, 2.x compat, 3.x); v2: /api/v2/write"
    )
    influx_org: str = Field("carewatch", description="organisation, v2 API only")
    data_dir: Path = Field(Path("data"), description="SQLite alert store and spool live here")
    http_host: str = Field("127.0.0.1", description="address the API and screen listen on")
    http_port: int = Field(8080, ge=0, le=65535)
    api_token: SecretStr | None = Field(
        None, description="the service's admin bearer token; required by `serve`"
    )
    read_access: Literal["open", "token"] = Field(
        "token",
        description="token: every API read needs a token (or a staff session), and shows"
        " the sites it works for; open: anyone who reaches the HTTP port reads every site"
        " (a closed duty-room LAN; the service warns at start)",
    )
    access_file: Path | None = Field(
        None,
        description="tokens that work across sites: district, operator (call centre),"
        " viewer/duty/admin of listed sites (docs/security.md)",
    )
    sqlite_synchronous: Literal["FULL", "NORMAL"] = Field(
        "FULL", description="FULL: acked messages survive a power cut, not only a crash"
    )
    retention: Retention = Field(
        default_factory=lambda: Retention(),
        description="how long each kind of data is kept (CAREWATCH_RETENTION__ALERTS_DAYS=...)",
    )
    dead_letter_capacity: int = Field(10_000, ge=100, description="dead-letter rows kept")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @property
    def sites(self) -> Path:
        """Where the sites come from: the folder when one is given, else the one file."""
        return self.sites_dir if self.sites_dir is not None else self.site_file

    @model_validator(mode="after")
    def _safe(self) -> Settings:
        if self.api_token is not None and len(self.api_token.get_secret_value()) < 16:
            raise ValueError("api_token must be at least 16 characters")
        if self.influx_api == "v2" and not self.influx_url:
            raise ValueError("influx_api=v2 needs influx_url")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        if cls.yaml_file is None:
            return init_settings, env_settings
        return init_settings, env_settings, YamlConfigSettingsSource(settings_cls, cls.yaml_file)


def service_id_from(client_id: str) -> str:
    """The default service id: the MQTT client id lower-cased, other characters than
    [a-z0-9-] as `-`, at most 32 characters; a share group's name must not hold `/`, `+`
    or `#`, and the broker account's name is built from it."""
    sid = re.sub(r"[^a-z0-9-]+", "-", client_id.lower())[:32].strip("-")
    return sid or "carewatch"


def load_settings(config: Path | None = None, **overrides: object) -> Settings:
    """Environment over the YAML file; explicit overrides over both."""
    if config is None:
        return Settings(**overrides)  # type: ignore[arg-type]
    if not config.is_file():
        raise FileNotFoundError(f"config file not found: {config}")

    file_settings = type("FileSettings", (Settings,), {"yaml_file": config})
    settings: Settings = file_settings(**overrides)
    if not settings.site_file.is_absolute():  # relative to the config file
        settings.site_file = (config.parent / settings.site_file).resolve()
    if settings.sites_dir is not None and not settings.sites_dir.is_absolute():
        settings.sites_dir = (config.parent / settings.sites_dir).resolve()
    if settings.mqtt_ca_file is not None and not settings.mqtt_ca_file.is_absolute():
        settings.mqtt_ca_file = (config.parent / settings.mqtt_ca_file).resolve()
    if settings.rules_file is not None and not settings.rules_file.is_absolute():
        settings.rules_file = (config.parent / settings.rules_file).resolve()
    if settings.access_file is not None and not settings.access_file.is_absolute():
        settings.access_file = (config.parent / settings.access_file).resolve()
    return settings
