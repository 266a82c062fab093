"""Collector configuration: flags > ``NETAUDIT_…`` environment > YAML file > defaults.

Nested fields use ``__`` in the environment (``NETAUDIT_INGEST__PORT=6000``), lists
are JSON or comma-separated (``NETAUDIT_AZURE__SUBSCRIPTIONS=sub1,sub2``). The YAML
file is named by ``--config`` or ``NETAUDIT_CONFIG``. Validation reports every
problem at once, one line each, naming the key to fix: unknown keys (with the
nearest valid one), values, cross-field rules, and files that cannot be read.
"""

from __future__ import annotations

import difflib
import os
import types
from collections.abc import Iterator
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import (
    AfterValidator,
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
    SettingsError,
)

from netaudit.collector.config_sources import (
    CONFIG_ENV,
    ConfigLayers,
    KeyPath,
    YamlFileSource,
    env_name,
    env_source,
    read_yaml_config,
)
from netaudit.collector.errors import ConfigError
from netaudit.collector.redaction import mask_url
from netaudit.collector.rules.settings import RuleSettings

__all__ = ["CONFIG_ENV", "ConfigLayers", "Settings", "load_settings", "read_yaml_config"]

_CONFIG_FILE: ContextVar[Path | None] = ContextVar("netaudit_config_file", default=None)
# Seconds the visibility timeout exceeds the task time limit by default.
VISIBILITY_MARGIN_SECONDS = 30
# Consecutive unanswered PINGs after which `netaudit serve` replaces its embedded Redis.
HUNG_CHECKS = 3
# Seconds between `netaudit serve`'s checks for scans past scan.deadline_seconds.
SCAN_SWEEP_SECONDS = 5.0
REDIS_SCHEMES = ("redis://", "rediss://", "redis+socket://", "unix://")


class CredentialUrl:
    """Field metadata: a URL that may carry a password, masked wherever it is shown."""


SecretUrl = Annotated[str, CredentialUrl()]


def _readable_file(path: Path) -> Path:
    if not path.exists():
        raise ValueError(f"{path} does not exist")
    if not path.is_file():
        raise ValueError(f"{path} is not a file")
    if not os.access(path, os.R_OK):
        raise ValueError(f"{path} is not readable by this user")
    return path


ReadableFile = Annotated[Path, AfterValidator(_readable_file)]
"""A certificate, key or secret file: it must exist and be readable when the config loads."""


def is_credential_url(model: type[BaseModel], name: str) -> bool:
    info = model.model_fields.get(name)
    return info is not None and any(isinstance(m, CredentialUrl) for m in info.metadata)


class Section(BaseModel):
    """A group of settings: unknown keys are refused, credential URLs masked in ``repr``."""

    model_config = ConfigDict(extra="forbid")

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        for name, value in super().__repr_args__():
            if name is not None and is_credential_url(type(self), name):
                value = mask_url(value)
            yield name, value


class StoreSettings(Section):
    url: SecretUrl = Field(
        default="",
        description="SQLAlchemy URL. Empty: a SQLite file netaudit.db in state_dir "
        "(postgresql+psycopg://… at scale). Its password is masked wherever it is shown.",
    )
    busy_timeout_seconds: float = Field(
        default=30.0,
        gt=0,
        description="SQLite busy timeout in seconds; the ingest server and workers write "
        "concurrently, and 30 s outlasts any single short write transaction.",
    )
    report_retention: int = Field(
        default=10,
        ge=1,
        description="Reports kept per cluster (count), the ones committed last; older ones "
        "are pruned at each commit. The latest is what scans read; the earlier ones serve "
        "`report --since` and recognise a resent report as a duplicate. Raise it to keep "
        "every report for an audit of delivery (bench/soak.py).",
    )


class IngestSettings(Section):
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
    tls_cert_file: ReadableFile | None = Field(
        default=None,
        description="PEM certificate (chain) of the ingest port; `netaudit certs init` makes one.",
    )
    tls_key_file: ReadableFile | None = Field(
        default=None, description="PEM private key of tls_cert_file, unencrypted (mode 0600)."
    )
    tls_client_ca_file: ReadableFile | None = Field(
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
            raise ValueError("\n".join(problems))
        return self


class AdminSettings(Section):
    """How `netaudit scan --fresh` reaches a running collector's AdminService."""

    address: str = Field(
        default="",
        description="HOST:PORT of a collector's ingest port, which serves the AdminService "
        "too (any replica: requests reach the others through the broker). Empty: the gRPC "
        "address a local `netaudit serve` wrote to state_dir/endpoints.json.",
    )
    insecure: bool = Field(
        default=False,
        description="Plaintext without credentials, for a collector run with `serve "
        "--insecure` (loopback tests only).",
    )
    tls_root_cert: ReadableFile | None = Field(
        default=None,
        description="PEM CA bundle to verify the collector's certificate (`netaudit certs "
        "init` writes ca.pem). Unset: the system's CAs.",
    )
    tls_server_name: str | None = Field(
        default=None,
        description="Name to verify in the collector's certificate when it differs from HOST.",
    )
    token_file: ReadableFile | None = Field(
        default=None,
        description="File holding an admin bearer token (`netaudit tokens create --admin "
        "NAME`); read at each call, so a rotated token is picked up.",
    )
    tls_client_cert: ReadableFile | None = Field(
        default=None,
        description="PEM client certificate whose URI SAN is netaudit:admin (`netaudit certs "
        "issue --admin NAME`): the admin credential under mutual TLS, where every caller "
        "presents a certificate.",
    )
    tls_client_key: ReadableFile | None = Field(
        default=None, description="PEM private key of tls_client_cert (unencrypted)."
    )
    fresh_timeout_seconds: float = Field(
        default=60.0,
        gt=0,
        le=3600,
        description="How long `scan --fresh` waits for the agents' fresh reports (seconds): an "
        "agent gathers in seconds to a minute on a large cluster, then sends and is acked "
        "after a commit. Agents that have not answered by then are reported as timed out.",
    )

    @model_validator(mode="after")
    def _credentials_are_consistent(self) -> AdminSettings:
        problems = []
        if (self.tls_client_cert is None) != (self.tls_client_key is None):
            problems.append("admin.tls_client_cert and admin.tls_client_key go together")
        if self.insecure and (self.tls_root_cert or self.tls_client_cert or self.token_file):
            problems.append("admin.insecure (plaintext) excludes TLS files and the token file")
        if problems:
            raise ValueError("\n".join(problems))
        return self


class MetricsSettings(Section):
    host: str = Field(default="127.0.0.1", description="Address the /metrics HTTP server binds.")
    port: int = Field(
        default=9000, ge=0, le=65535, description="/metrics port; 0 picks a free one."
    )


class BrokerSettings(Section):
    url: SecretUrl = Field(
        default="",
        description="Celery broker URL (redis://… or amqp://…). Empty: the embedded Redis "
        "server the collector starts on a unix socket in state_dir. Its password is masked "
        "wherever it is shown.",
    )
    result_backend: SecretUrl = Field(
        default="",
        description="Celery result backend URL (redis://… or db+postgresql://…). Empty: the "
        "broker when it is Redis; required with any other broker, which cannot hold results.",
    )
    queue: str = Field(
        default="netaudit",
        min_length=1,
        description="Queue the tasks go to and the workers consume; distinct names let "
        "several collectors share one broker.",
    )
    task_time_limit_seconds: int = Field(
        default=120,
        gt=0,
        description="Hard time limit of one task in seconds; ARM reads of a large "
        "subscription under throttling are the slowest task (a scan's chunk of clusters "
        "takes about a second). Kept short because a task lost with its worker comes back "
        "only after the visibility timeout, which must exceed this.",
    )
    visibility_timeout_seconds: int = Field(
        default=0,
        ge=0,
        description="Seconds before a Redis broker redelivers a task whose worker died "
        f"without acking it (SIGKILL, OOM). 0: the task time limit plus "
        f"{VISIBILITY_MARGIN_SECONDS} s, long enough for a worker to ack a task it stopped "
        "at the limit, so a slow but live task never runs twice.",
    )
    supervise_interval_seconds: float = Field(
        default=1.0,
        gt=0,
        le=60,
        description="How often `netaudit serve` checks that its embedded Redis runs and "
        "answers PING; one that exited is restarted on the same socket within about this "
        f"long (one that stops answering, after {HUNG_CHECKS} checks), and the scans it "
        "held are dispatched again. An external broker (broker.url) is checked as often: "
        "its loss and its return are logged, and on its return the running scans are "
        "dispatched again.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> BrokerSettings:
        problems = []
        if 0 < self.visibility_timeout_seconds <= self.task_time_limit_seconds:
            problems.append(
                "broker.visibility_timeout_seconds must exceed broker.task_time_limit_seconds, "
                "or a running task is delivered twice"
            )
        if self.url and not self.url.startswith(REDIS_SCHEMES) and not self.result_backend:
            scheme = self.url.partition(":")[0]
            problems.append(
                f"broker.result_backend is required when broker.url is not Redis ({scheme}://…):"
                " only a Redis broker doubles as the result backend; set a redis:// or db+… URL"
            )
        if problems:
            raise ValueError("\n".join(problems))
        return self

    @property
    def effective_visibility_timeout(self) -> int:
        return self.visibility_timeout_seconds or (
            self.task_time_limit_seconds + VISIBILITY_MARGIN_SECONDS
        )

    @property
    def restore_interval(self) -> int:
        """Seconds between the broker's sweeps for tasks past their visibility timeout."""
        return max(1, min(10, self.effective_visibility_timeout // 6))


class ScanSettings(Section):
    clusters_per_task: int = Field(
        default=50,
        ge=1,
        le=1000,
        description="Clusters one scan task evaluates and records in one transaction. 50 "
        "keeps the per-task overhead (broker round trip, store transaction) to a few "
        "percent of the rule work while a 10,000-cluster fleet still spreads over "
        "200 tasks.",
    )
    deadline_seconds: int = Field(
        default=300,
        gt=0,
        description="A scan still running this many seconds after it started is marked "
        "failed, with the reason, by the waiting `netaudit scan` (whose --timeout defaults "
        f"to this) and by `netaudit serve` (checked every {SCAN_SWEEP_SECONDS:g} s), so no "
        "scan stays running. Must exceed the broker's visibility timeout plus the task "
        "time limit (150 + 120 s by default): a task lost with a SIGKILLed worker is "
        "redelivered and run within it.",
    )


class ScheduleSettings(Section):
    """What `netaudit beat` starts, and how often (exactly one beat per deployment)."""

    scan_interval_seconds: float = Field(
        default=3600.0,
        ge=0,
        description="Seconds between the scans `netaudit beat` starts; 0: no scheduled scans. "
        "An hour keeps findings and metrics no staler than the agents' reports usually are, "
        "at the cost of one scan of the fleet per hour in the workers.",
    )
    inventory_interval_seconds: float = Field(
        default=3600.0,
        ge=0,
        description="Seconds between the inventory refreshes (ARM reads of azure.subscriptions) "
        "`netaudit beat` starts; 0: no scheduled refreshes. An hour stays far below ARM's "
        "read throttling limits while pool sizes and subnets are seldom older than that.",
    )


class ReportSettings(Section):
    waivers_file: Path | None = Field(
        default=None,
        description="YAML file of accepted findings (rule, cluster and/or resource glob, "
        "reason, owner, expires) that scan, report and audit show as waived until their "
        "expiry date; --waivers FILE overrides it. Read when a report is made, so a bad "
        "entry stops that command only, not serve or worker. Empty: no waivers.",
    )


class AzureSettings(Section):
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
    tenant_id: str = Field(
        default="",
        description="Entra ID tenant of the service principal or workload identity. Empty: "
        "the credential chain's own (AZURE_TENANT_ID, the Azure CLI's login).",
    )
    client_id: str = Field(
        default="",
        description="Application (client) id of the service principal, with a client secret.",
    )
    client_secret: SecretStr | None = Field(
        default=None,
        repr=False,
        description="Client secret of the service principal. Prefer client_secret_file (or "
        "the credential chain without a secret: workload identity, AZURE_* variables, "
        "the Azure CLI); shown masked.",
    )
    client_secret_file: ReadableFile | None = Field(
        default=None, description="File holding the client secret; re-read on every refresh."
    )
    ca_bundle: ReadableFile | None = Field(
        default=None, description="PEM CA bundle for ARM and the authority (sandbox, proxies)."
    )
    use_managed_identity: bool = Field(
        default=False,
        description="Allow the managed-identity credential in the auto chain (probes the "
        "instance metadata endpoint); off so nothing calls out unless asked.",
    )
    credential: Literal[
        "auto",
        "client-secret",
        "client-certificate",
        "workload-identity",
        "managed-identity",
        "azure-cli",
    ] = Field(
        default="auto",
        description="How the collector signs in to Azure. auto: the client secret when one "
        "is set, else azure-identity's chain (environment, workload identity, Azure CLI, …; "
        "managed identity only with use_managed_identity). A name picks that one credential, "
        "so a deployment that knows how it signs in fails fast and says why.",
    )
    managed_identity_client_id: str = Field(
        default="",
        description="Client id of the user-assigned managed identity to use (managed-identity, "
        "or auto with use_managed_identity). Empty: the system-assigned identity.",
    )
    client_certificate_file: ReadableFile | None = Field(
        default=None,
        description="PEM file with the service principal's certificate and private key "
        "(client-certificate); re-read at every refresh, so rotation needs no restart.",
    )
    federated_token_file: ReadableFile | None = Field(
        default=None,
        description="Service account token file of workload identity. Empty: "
        "AZURE_FEDERATED_TOKEN_FILE, which AKS's workload identity webhook sets.",
    )

    @model_validator(mode="after")
    def _one_client_secret(self) -> AzureSettings:
        if self.client_secret is not None and self.client_secret_file is not None:
            raise ValueError(
                "azure.client_secret and azure.client_secret_file are both set: keep one "
                "(the file wins, which hides the other)"
            )
        return self


class InventorySettings(Section):
    """How an inventory refresh spends ARM's request budget (perf.md §1.2, §1.3; the AKS
    resource provider's limits in domain.md §1.10). The rates are per principal and per
    subscription, as ARM counts them; lower them when other tools share the principal."""

    listing: Literal["per-subscription", "resource-graph"] = Field(
        default="per-subscription",
        description="How the clusters are listed before their details are read. "
        "per-subscription: one ARM LIST per subscription, in the worker task that refreshes "
        "it (needs only Reader on each subscription, and a forbidden subscription says so "
        "itself). resource-graph: one Azure Resource Graph query (1,000 rows a page) per "
        "batch of max_concurrent_subscriptions subscriptions, each batch one worker task; "
        "worth it from a few hundred subscriptions of mostly unchanged clusters, where the "
        "LISTs dominate a refresh. A subscription without rows is listed by ARM (Resource "
        "Graph leaves out those the principal cannot read).",
    )
    max_concurrent_subscriptions: int = Field(
        default=8,
        ge=1,
        le=64,
        description="Subscriptions one resource-graph task lists with one query and reads at "
        "once (threads). Each subscription has its own ARM budget, so a task takes about one "
        "subscription's time (about 16 s for 200 changed clusters at ARM's read rate): 8 "
        "keeps that under the task time limit with 8 subscriptions' connections in one "
        "worker. per-subscription refreshes run as many at once as the workers have "
        "processes.",
    )
    details_max_age_seconds: float = Field(
        default=86400,
        ge=0,
        description="Seconds after which an unchanged cluster's details (subnets, VNets, "
        "NSGs, private zones and records, endpoints, gateways) are read again: they change "
        "without the cluster's lastModifiedAt moving. A day bounds how stale an NSG rule or "
        "zone record can be while an hourly refresh reads about 1/24 of the details. 0: "
        "never by age (only changed clusters and `inventory refresh --full`).",
    )
    pacing: bool = Field(
        default=True,
        description="Pace requests with the token buckets below so ARM seldom answers 429 "
        "(Retry-After is honoured either way). Off only to measure what throttling costs.",
    )
    subscription_reads_burst: float = Field(
        default=250,
        gt=0,
        description="Requests: ARM's reads bucket per principal and subscription (250).",
    )
    subscription_reads_per_second: float = Field(
        default=25,
        gt=0,
        description="Requests per second refilling the reads bucket (ARM: 25).",
    )
    managed_cluster_list_burst: float = Field(
        default=500,
        gt=0,
        description="Requests: the AKS provider's LIST managedClusters bucket (500).",
    )
    managed_cluster_list_per_second: float = Field(
        default=1,
        gt=0,
        description="Requests per second refilling the LIST managedClusters bucket (1).",
    )
    managed_cluster_get_burst: float = Field(
        default=60,
        gt=0,
        description="Requests: the AKS provider's GET managedCluster bucket, and its bucket "
        "for every other AKS read such as agentPools (60 each).",
    )
    managed_cluster_get_per_second: float = Field(
        default=1,
        gt=0,
        description="Requests per second refilling the AKS GET and other-read buckets (1).",
    )
    resource_graph_burst: float = Field(
        default=15,
        gt=0,
        description="Queries: Resource Graph's quota per principal (15 per 5 s window).",
    )
    resource_graph_per_second: float = Field(
        default=3,
        gt=0,
        description="Queries per second refilling the Resource Graph bucket (15 / 5 s).",
    )


class Settings(BaseSettings):
    """Everything the collector's commands can be told."""

    model_config = SettingsConfigDict(extra="forbid", validate_default=True)

    state_dir: Path = Field(
        default=Path(".netaudit"),
        description="Folder for the SQLite store, the embedded broker, TLS files of `netaudit "
        "certs init`, endpoints.json and the schedule state of `netaudit beat`.",
    )
    log_level: str = Field(default="INFO", description="DEBUG, INFO, WARNING or ERROR.")
    log_format: Literal["auto", "json", "text"] = Field(
        default="auto", description="auto: text on a terminal, JSON lines otherwise."
    )
    store: StoreSettings = Field(
        default_factory=lambda: StoreSettings(),
        description="Where findings, reports, inventory and tokens are kept.",
    )
    ingest: IngestSettings = Field(
        default_factory=lambda: IngestSettings(),
        description="The gRPC port agents stream their reports to (`netaudit serve`).",
    )
    admin: AdminSettings = Field(
        default_factory=lambda: AdminSettings(),
        description="How `netaudit scan --fresh` calls a running collector's AdminService.",
    )
    metrics: MetricsSettings = Field(
        default_factory=lambda: MetricsSettings(),
        description="The Prometheus /metrics endpoint of `netaudit serve`.",
    )
    broker: BrokerSettings = Field(
        default_factory=lambda: BrokerSettings(),
        description="Celery: how scans and inventory refreshes reach the workers.",
    )
    azure: AzureSettings = Field(
        default_factory=lambda: AzureSettings(),
        description="Azure Resource Manager: which subscriptions are read and with which "
        "credential. Without a client secret, the credential chain applies: workload "
        "identity, AZURE_* environment variables, the Azure CLI's login (managed identity "
        "only with use_managed_identity).",
    )
    inventory: InventorySettings = Field(
        default_factory=lambda: InventorySettings(),
        description="How an inventory refresh lists clusters and paces its ARM requests.",
    )
    scan: ScanSettings = Field(
        default_factory=lambda: ScanSettings(), description="How a scan is split into tasks."
    )
    schedule: ScheduleSettings = Field(
        default_factory=lambda: ScheduleSettings(),
        description="Scheduled scans and inventory refreshes, started by `netaudit beat`.",
    )
    reports: ReportSettings = Field(
        default_factory=lambda: ReportSettings(),
        description="What scan, report and audit apply to the findings they print.",
    )
    rules: RuleSettings = Field(
        default_factory=lambda: RuleSettings(),
        description="Rule settings: a rule id as a key holds that rule's settings (enabled, "
        "severity, scope, thresholds by name), e.g. `CNI-002: {high: 0.95}`, "
        "`KUB-001: {enabled: false}`, `NPL-005: {scope: {clusters: [prod-*]}}`.",
    )

    @model_validator(mode="after")
    def _scan_outlasts_a_redelivery(self) -> Settings:
        broker = self.broker
        redelivered = broker.effective_visibility_timeout + broker.restore_interval
        needed = redelivered + broker.task_time_limit_seconds
        if self.scan.deadline_seconds <= needed:
            raise ValueError(
                f"scan.deadline_seconds ({self.scan.deadline_seconds}) must exceed {needed} s: "
                f"a SIGKILLed worker's task comes back after the broker's visibility timeout "
                f"and sweep ({redelivered} s) and may then run broker.task_time_limit_seconds "
                f"({broker.task_time_limit_seconds}); raise it or lower the broker's timeouts"
            )
        return self

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
        return (
            init_settings,
            env_source(settings_cls),
            YamlFileSource(settings_cls, _CONFIG_FILE.get()),
        )

    @property
    def store_url(self) -> str:
        return self.store.url or f"sqlite:///{(self.state_dir / 'netaudit.db').resolve()}"

    @property
    def broker_dir(self) -> Path:
        return (self.state_dir / "broker").resolve()

    @property
    def beat_schedule_file(self) -> Path:
        """Where `netaudit beat` keeps when each scheduled task last ran (Celery's shelve)."""
        return (self.state_dir / "celerybeat-schedule").resolve()

    @property
    def endpoints_file(self) -> Path:
        return (self.state_dir / "endpoints.json").resolve()


def load_settings(config_file: Path | None = None, **flags: Any) -> Settings:
    """Build the settings; every problem is reported in one ConfigError, one line each."""
    given = {key: value for key, value in flags.items() if value is not None}
    token = _CONFIG_FILE.set(config_file)
    try:
        return Settings(**given)
    except ValidationError as exc:
        layers = ConfigLayers.read(config_file, given)
        raise config_error(list(describe_problems(exc, layers))) from exc
    except SettingsError as exc:
        raise config_error([str(exc)]) from exc
    finally:
        _CONFIG_FILE.reset(token)


def config_error(problems: list[str]) -> ConfigError:
    """One problem: one line; several: a heading and one line each."""
    if len(problems) == 1:
        return ConfigError(f"invalid configuration: {problems[0]}")
    lines = "".join(f"\n  {problem}" for problem in problems)
    return ConfigError(f"invalid configuration, {len(problems)} problems:{lines}")


def describe_problems(exc: ValidationError, layers: ConfigLayers) -> Iterator[str]:
    """A line per problem naming its key (and the variable that set it, if any)."""
    for error in exc.errors():
        loc = tuple(error["loc"])
        where = _dotted(loc)
        variable = layers.env_variable(loc, below=error["type"] == "extra_forbidden")
        source = f" (from {variable})" if variable else ""
        if error["type"] == "extra_forbidden":
            yield f"unknown key {where}{source}{_nearest_key(loc, variable is not None)}"
            continue
        message = str(error["msg"]).removeprefix("Value error, ")
        for line in message.splitlines():
            named = not where or line.startswith((f"{where}.", f"{where} "))
            yield f"{line}{source}" if named else f"{where}{source}: {line}"


def _dotted(loc: KeyPath) -> str:
    return ".".join(str(part) for part in loc)


def _nearest_key(loc: KeyPath, from_env: bool) -> str:
    """ " — did you mean KEY?", or the valid keys at that level when none is close."""
    parent = _model_at(Settings, loc[:-1])
    if parent is None:
        return ""
    names = list(parent.model_fields)
    match = difflib.get_close_matches(str(loc[-1]).lower(), names, n=1, cutoff=0.6)
    if match:
        nearest = (*loc[:-1], match[0])
        return f" — did you mean {env_name(nearest) if from_env else _dotted(nearest)}?"
    level = f"under {_dotted(loc[:-1])}" if loc[:-1] else "at the top level"
    return f" (valid keys {level}: {', '.join(names)})"


def _model_at(model: type[BaseModel], loc: KeyPath) -> type[BaseModel] | None:
    """The settings model found at ``loc`` (dict keys and list indexes stepped over)."""
    current: Any = model
    for part in loc:
        if isinstance(current, type) and issubclass(current, BaseModel):
            info = current.model_fields.get(str(part))
            if info is None:
                return None
            current = _container_or_model(info.annotation)
        elif get_origin(current) in (dict, list):
            current = _container_or_model(get_args(current)[-1])
        else:
            return None
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _container_or_model(annotation: Any) -> Any:
    """A model, dict or list type inside ``annotation`` (``X | None``, ``Annotated``)."""
    if get_origin(annotation) is Annotated:
        return _container_or_model(get_args(annotation)[0])
    if get_origin(annotation) in (Union, types.UnionType):
        members = [_container_or_model(member) for member in get_args(annotation)]
        return next((m for m in members if m is not None), None)
    if get_origin(annotation) in (dict, list):
        return annotation
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


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
