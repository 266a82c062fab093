"""Collector configuration: flags > ``NETAUDIT_…`` environment > YAML file > defaults.

Nested fields use ``__`` in the environment (``NETAUDIT_INGEST__PORT=6000``).
The YAML file is named by ``--config`` or ``NETAUDIT_CONFIG``. Validation
reports every problem at once, one per line, naming the field to fix.
"""

from __future__ import annotations

import os
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from netaudit.collector.errors import ConfigError
from netaudit.collector.rules.settings import RuleSettings

CONFIG_ENV = "NETAUDIT_CONFIG"
_CONFIG_FILE: ContextVar[Path | None] = ContextVar("netaudit_config_file", default=None)


class StoreSettings(BaseModel):
    url: str = Field(
        default="",
        description="SQLAlchemy URL. Empty: a SQLite file netaudit.db in state_dir "
        "(postgresql+psycopg://… at scale).",
    )
    busy_timeout_seconds: float = Field(
        default=30.0,
        gt=0,
        description="SQLite busy timeout in seconds; the ingest server and workers write "
        "concurrently, and 30 s outlasts any single short write transaction.",
    )


class IngestSettings(BaseModel):
    host: str = Field(default="127.0.0.1", description="Address the gRPC ingest server binds.")
    port: int = Field(default=50051, ge=0, le=65535, description="gRPC port; 0 picks a free one.")
    max_report_bytes: int = Field(
        default=64 * 1024 * 1024,
        gt=0,
        description="Largest reassembled report in bytes; a 200k-pod cluster's report "
        "is well under this because pods are aggregated per node.",
    )
    max_assembly_bytes: int = Field(
        default=320 * 1024 * 1024,
        gt=0,
        description="Process-wide budget of report bytes being assembled and decoded, across "
        "all streams; a report reserves its bytes and 4x that for its decoded message, so the "
        "default admits one maximum-size report (5 x 64 MiB) and keeps the collector within "
        "a 512 MiB memory limit (budget + ~150 MiB). Beyond it a stream ends "
        "RESOURCE_EXHAUSTED and its agent retries later.",
    )
    reassembly_timeout_seconds: float = Field(
        default=300.0,
        gt=0,
        description="Seconds a partly received report is kept before it is dropped.",
    )
    max_connection_age_seconds: float = Field(
        default=1800.0,
        gt=0,
        description="Streams are closed after this many seconds so agents rebalance "
        "across collector replicas.",
    )
    insecure: bool = Field(
        default=False,
        description="Plaintext without credentials: anyone who reaches the port writes reports "
        "for any cluster. For loopback tests only (`netaudit serve --insecure`); off, the port "
        "needs tls_cert_file and tls_key_file.",
    )
    tls_cert_file: Path | None = Field(
        default=None,
        description="PEM certificate (chain) of the ingest port; `netaudit certs init` makes one.",
    )
    tls_key_file: Path | None = Field(
        default=None, description="PEM private key of tls_cert_file, unencrypted (mode 0600)."
    )
    tls_client_ca_file: Path | None = Field(
        default=None,
        description="PEM CA of the agents' client certificates. Set: mutual TLS, every agent "
        "presents a certificate whose URI SAN is its cluster's ARM resource id (`netaudit certs "
        "issue`). Unset: agents send per-cluster bearer tokens (`netaudit tokens create`).",
    )
    health_host: str = Field(
        default="127.0.0.1",
        description="Address of the plaintext gRPC health port (0.0.0.0 in a Pod, for kubelet).",
    )
    health_port: int = Field(
        default=50052,
        ge=0,
        le=65535,
        description="Plaintext gRPC health checking, apart from the TLS ingest port because "
        "kubelet's gRPC probes cannot speak TLS; 0 picks a free one.",
    )
    reflection: bool = Field(
        default=False,
        description="Serve gRPC server reflection on the ingest port (for `buf curl`); off so "
        "the port does not describe itself to whoever reaches it.",
    )

    @model_validator(mode="after")
    def _transport_is_consistent(self) -> IngestSettings:
        problems = []
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            problems.append("ingest.tls_cert_file and ingest.tls_key_file go together")
        if self.tls_client_ca_file is not None and self.tls_cert_file is None:
            problems.append("ingest.tls_client_ca_file (mutual TLS) needs ingest.tls_cert_file")
        if self.insecure and (self.tls_cert_file or self.tls_client_ca_file):
            problems.append("ingest.insecure (plaintext) excludes the ingest.tls_* files")
        if self.max_assembly_bytes < 5 * self.max_report_bytes:
            problems.append(
                "ingest.max_assembly_bytes must be at least 5 x ingest.max_report_bytes "
                "(a report's bytes and its decoded message)"
            )
        if self.port and self.port == self.health_port:
            problems.append("ingest.health_port must differ from ingest.port")
        if problems:
            raise ValueError("; ".join(problems))
        return self


class MetricsSettings(BaseModel):
    host: str = Field(default="127.0.0.1", description="Address the /metrics HTTP server binds.")
    port: int = Field(
        default=9000, ge=0, le=65535, description="/metrics port; 0 picks a free one."
    )


class BrokerSettings(BaseModel):
    url: str = Field(
        default="",
        description="Celery broker URL (redis://… or amqp://…). Empty: the embedded Redis "
        "server the collector starts on a unix socket in state_dir.",
    )
    result_backend: str = Field(
        default="", description="Celery result backend URL. Empty: the broker when it is Redis."
    )
    queue: str = Field(
        default="netaudit",
        min_length=1,
        description="Queue the tasks go to and the workers consume; distinct names let "
        "several collectors share one broker.",
    )
    task_time_limit_seconds: int = Field(
        default=300,
        gt=0,
        description="Hard time limit of one task in seconds; ARM reads of a large "
        "subscription under throttling are the slowest task.",
    )
    visibility_timeout_seconds: int = Field(
        default=0,
        ge=0,
        description="Seconds before a Redis broker redelivers a task whose worker died "
        "without acking it. 0: twice the task time limit, which keeps a slow but "
        "live task from running twice.",
    )

    @model_validator(mode="after")
    def _visibility_outlasts_tasks(self) -> BrokerSettings:
        if 0 < self.visibility_timeout_seconds <= self.task_time_limit_seconds:
            raise ValueError(
                "broker.visibility_timeout_seconds must exceed broker.task_time_limit_seconds, "
                "or a running task is delivered twice"
            )
        return self

    @property
    def effective_visibility_timeout(self) -> int:
        return self.visibility_timeout_seconds or 2 * self.task_time_limit_seconds


class ScanSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    clusters_per_task: int = Field(
        default=50,
        ge=1,
        le=1000,
        description="Clusters one scan task evaluates and records in one transaction. 50 "
        "keeps the per-task overhead (broker round trip, store transaction) to a few "
        "percent of the rule work while a 10,000-cluster fleet still spreads over "
        "200 tasks.",
    )


class AzureSettings(BaseModel):
    subscriptions: list[str] = Field(
        default_factory=list, description="Subscription ids whose AKS clusters are audited."
    )
    arm_url: str = Field(
        default="", description="Azure Resource Manager base URL. Empty: the public cloud."
    )
    authority_url: str = Field(
        default="",
        description="Entra ID authority for a client secret (sovereign clouds, sandbox).",
    )
    tenant_id: str = ""
    client_id: str = ""
    client_secret: SecretStr | None = Field(default=None, repr=False)
    client_secret_file: Path | None = Field(
        default=None, description="File holding the client secret; re-read on every refresh."
    )
    ca_bundle: Path | None = Field(default=None, description="CA bundle for ARM and the authority.")
    use_managed_identity: bool = Field(
        default=False,
        description="Allow the managed-identity credential (probes the instance metadata "
        "endpoint); off so nothing calls out unless asked.",
    )


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="NETAUDIT_",
        env_nested_delimiter="__",
        extra="forbid",
        validate_default=True,
    )

    state_dir: Path = Field(
        default=Path(".netaudit"),
        description="Folder for the SQLite store, the embedded broker and endpoint files.",
    )
    log_level: str = Field(default="INFO", description="DEBUG, INFO, WARNING or ERROR.")
    log_format: Literal["auto", "json", "text"] = Field(
        default="auto", description="auto: text on a terminal, JSON lines otherwise."
    )
    store: StoreSettings = Field(default_factory=lambda: StoreSettings())
    ingest: IngestSettings = Field(default_factory=lambda: IngestSettings())
    metrics: MetricsSettings = Field(default_factory=lambda: MetricsSettings())
    broker: BrokerSettings = Field(default_factory=lambda: BrokerSettings())
    azure: AzureSettings = Field(default_factory=lambda: AzureSettings())
    scan: ScanSettings = Field(default_factory=lambda: ScanSettings())
    rules: RuleSettings = Field(default_factory=lambda: RuleSettings())

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        if value.upper() not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("must be DEBUG, INFO, WARNING or ERROR")
        return value.upper()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _YamlFileSource(settings_cls))

    @property
    def store_url(self) -> str:
        return self.store.url or f"sqlite:///{(self.state_dir / 'netaudit.db').resolve()}"

    @property
    def broker_dir(self) -> Path:
        return (self.state_dir / "broker").resolve()

    @property
    def endpoints_file(self) -> Path:
        return (self.state_dir / "endpoints.json").resolve()


class _YamlFileSource(PydanticBaseSettingsSource):
    """Reads the YAML file named by --config, else by NETAUDIT_CONFIG."""

    def __call__(self) -> dict[str, Any]:
        path = _CONFIG_FILE.get() or os.environ.get(CONFIG_ENV)
        if not path:
            return {}
        return read_yaml_config(Path(path))

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False


def read_yaml_config(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError as exc:
        raise ConfigError(f"config file {path} does not exist") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping at the top level")
    return data


def load_settings(config_file: Path | None = None, **flags: Any) -> Settings:
    """Build the settings; every validation problem is reported in one ConfigError."""
    token = _CONFIG_FILE.set(config_file)
    try:
        return Settings(**{k: v for k, v in flags.items() if v is not None})
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc)) from exc
    finally:
        _CONFIG_FILE.reset(token)


def describe_validation_error(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"]) or "config"
        problems.append(f"{where}: {error['msg']}")
    return "invalid configuration: " + "; ".join(problems)


def client_secret(azure: AzureSettings) -> str:
    """The client secret, re-read from its file each call so rotation needs no restart."""
    if azure.client_secret_file is not None:
        try:
            return azure.client_secret_file.read_text().strip()
        except OSError as exc:
            raise ConfigError(
                f"azure.client_secret_file {azure.client_secret_file} cannot be read: {exc}"
            ) from exc
    return azure.client_secret.get_secret_value() if azure.client_secret else ""
