"""Agent configuration: flags > ``NETAUDIT_…`` environment > defaults.

Nested groups use ``__`` in the environment (``NETAUDIT_COLLECTOR__ADDRESS``,
``NETAUDIT_SPOOL__MAX_BYTES``); lists are JSON or comma-separated
(``NETAUDIT_DNS__EXTRA_PROBE_NAMES=a.example,b.example``). Every field says its
unit and why its default. Validation reports every problem at once, one line
each (``ConfigError``): unknown keys with the nearest valid one, bad values, and
certificate, key and token files that do not exist or cannot be read.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
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

from netaudit.agent.errors import ConfigError
from netaudit.settings_env import ENV_NESTED_DELIMITER, ENV_PREFIX, NetauditEnvSource

MIB = 1024 * 1024
COLLECTOR_ENV_KEYS = frozenset(
    {
        "config",
        "state_dir",
        "store",
        "ingest",
        "admin",
        "metrics",
        "broker",
        "azure",
        "inventory",
        "scan",
        "rules",
        "schedule",
        "reports",
    }
)
"""Top-level settings of the collector (``netaudit``), which shares the NETAUDIT_ prefix:
the agent leaves NETAUDIT_INGEST__PORT and the like alone (a test keeps this in step)."""
DEFAULT_PROBE_NAME = "kubernetes.default.svc.cluster.local"
ARM_CLUSTER_ID = re.compile(
    r"^/subscriptions/[^/]+/resourcegroups/[^/]+/providers/"
    r"microsoft\.containerservice/managedclusters/[^/]+$",
    re.IGNORECASE,
)
_HOST_PORT = re.compile(r"^(?:\[(?P<v6>[0-9a-fA-F:.]+)\]|(?P<host>[^:\[\]\s]+)):(?P<port>\d{1,5})$")


def _readable_file(path: Path) -> Path:
    if not path.exists():
        raise ValueError(f"{path} does not exist")
    if not path.is_file():
        raise ValueError(f"{path} is not a file")
    if not os.access(path, os.R_OK):
        raise ValueError(f"{path} is not readable by this user")
    return path


ReadableFile = Annotated[Path, AfterValidator(_readable_file)]
"""A certificate, key or token file: it must exist and be readable when the agent starts."""


class Section(BaseModel):
    """A group of settings; an unknown key in it is refused, not ignored."""

    model_config = ConfigDict(extra="forbid")


def parse_host_port(value: str) -> tuple[str, int]:
    """``host:port`` or ``[v6]:port`` -> (host, port); ValueError when malformed."""
    match = _HOST_PORT.match(value.strip())
    port = int(match.group("port")) if match else 0
    if not match or not 0 < port < 65536:
        raise ValueError(f"{value!r} is not HOST:PORT")
    return match.group("v6") or match.group("host"), port


class KubeSettings(Section):
    """How the agent reaches the Kubernetes API."""

    kubeconfig: Path | None = Field(
        default=None,
        description="Path of a kubeconfig. Unset: the in-cluster service account inside a Pod, "
        "else $KUBECONFIG or ~/.kube/config, as kubectl does.",
    )
    context: str | None = Field(
        default=None, description="kubeconfig context; unset: its current-context."
    )
    page_size: int = Field(
        default=500,
        ge=1,
        le=10_000,
        description="Objects per list page (count). 500 is kubectl's chunk size: bounded memory "
        "per page without many round trips.",
    )
    request_timeout_seconds: float = Field(
        default=30.0,
        gt=0,
        description="Read timeout per API request (seconds). A 500-object page answers well under "
        "a second; 30 s tolerates a loaded API server without hanging a report.",
    )
    connect_timeout_seconds: float = Field(
        default=5.0, gt=0, description="TCP/TLS connect timeout to the API server (seconds)."
    )
    retries: int = Field(
        default=5,
        ge=0,
        le=10,
        description="Retries of a GET answered 429/5xx with Retry-After (count); client-go's "
        "ceiling is 10, 5 keeps a throttled report within minutes.",
    )


class ClusterSettings(Section):
    """Who this cluster is; the collector joins reports to ARM inventory by ``id``."""

    id: str = Field(
        default="",
        description="ARM resource id of the managed cluster (/subscriptions/…/managedClusters/"
        "NAME); "
        "required by `run`, the collector's join key.",
    )
    name: str = Field(default="", description="Cluster name; default: the last segment of `id`.")
    region: str = Field(default="", description="Azure region (e.g. westeurope); informational.")

    @field_validator("id")
    @classmethod
    def _arm_id(cls, value: str) -> str:
        if value and not ARM_CLUSTER_ID.match(value):
            raise ValueError(
                "must be /subscriptions/SUB/resourceGroups/RG/providers/"
                "Microsoft.ContainerService/managedClusters/NAME"
            )
        return value

    def display_name(self) -> str:
        return self.name or (self.id.rstrip("/").rsplit("/", 1)[-1] if self.id else "")


class CollectorSettings(Section):
    """The gRPC stream to the collector."""

    address: str = Field(default="", description="Collector HOST:PORT; required by `run`.")
    tls_root_cert: ReadableFile | None = Field(
        default=None,
        description="PEM CA bundle to verify the collector. Unset (and no client certificate): "
        "plaintext, which a collector accepts only when it runs --insecure.",
    )
    tls_server_name: str | None = Field(
        default=None,
        description="Name to verify in the collector's certificate when it differs from HOST.",
    )
    tls_client_cert: ReadableFile | None = Field(
        default=None,
        description="PEM client certificate for mutual TLS; its URI SAN names this cluster's ARM "
        "id (`netaudit certs issue`). Re-read at every connect, so a renewed one is used. Set "
        "without tls_root_cert, the collector is verified with the system's CAs.",
    )
    tls_client_key: ReadableFile | None = Field(
        default=None, description="PEM private key of tls_client_cert (unencrypted)."
    )
    token_file: ReadableFile | None = Field(
        default=None,
        description="File holding a bearer token sent as `authorization` metadata; re-read at "
        "every "
        "connect so a rotated (projected) token is picked up.",
    )
    connect_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        description="How long `run --once` waits for the collector to accept a connection "
        "(seconds); covers a collector that is still starting.",
    )
    ack_timeout_seconds: float = Field(
        default=60.0,
        gt=0,
        description="Longest wait for a report's ack after its last chunk (seconds); the collector "
        "acks after a database commit, which takes well under this.",
    )
    stream_max_age_seconds: float = Field(
        default=1800.0,
        gt=0,
        description="Deadline of one stream (seconds); the agent then reconnects, so every call "
        "has "
        "a deadline and streams rebalance across collector replicas.",
    )
    keepalive_time_seconds: float = Field(
        default=60.0,
        ge=10,
        description="HTTP/2 keepalive ping interval (seconds). Azure load balancers drop idle "
        "flows "
        "after 4 min; 60 s stays under that and above the server's minimum ping interval.",
    )
    keepalive_timeout_seconds: float = Field(
        default=20.0,
        gt=0,
        description="Wait for a keepalive ping ack before the connection is dead (seconds).",
    )
    backoff_initial_seconds: float = Field(
        default=5.0, gt=0, description="First reconnect delay (seconds); OpenTelemetry's default."
    )
    backoff_max_seconds: float = Field(
        default=30.0,
        gt=0,
        description="Longest reconnect delay (seconds); OpenTelemetry's default.",
    )
    backoff_multiplier: float = Field(
        default=1.5,
        ge=1,
        description="Growth of the reconnect delay per failure; OpenTelemetry's default.",
    )
    max_chunk_bytes: int = Field(
        default=MIB,
        ge=1024,
        le=3 * MIB,
        description="Largest chunk of a serialized report (bytes); stays well under gRPC's 4 MiB "
        "default receive limit.",
    )

    @field_validator("address")
    @classmethod
    def _host_port(cls, value: str) -> str:
        if value:
            parse_host_port(value)
        return value

    @model_validator(mode="after")
    def _client_certificate_with_its_key(self) -> CollectorSettings:
        if (self.tls_client_cert is None) != (self.tls_client_key is None):
            raise ValueError("tls_client_cert and tls_client_key go together: set both or neither")
        return self

    @property
    def uses_tls(self) -> bool:
        return self.tls_root_cert is not None or self.tls_client_cert is not None


class SpoolSettings(Section):
    """Unsent reports on disk."""

    dir: Path = Field(
        default=Path("/var/lib/netaudit-agent/spool"),
        description="Spool directory; the Helm chart mounts a volume there so reports survive a "
        "container restart.",
    )
    max_bytes: int = Field(
        default=256 * MIB,
        ge=MIB,
        description="Spool size cap (bytes); the oldest reports are dropped beyond it. 256 MiB is "
        "Vector's disk-buffer floor and holds days of reports of a large cluster.",
    )
    ledger: Path | None = Field(
        default=None,
        description="File to append one JSON line to per report produced, sent, acked or "
        "dropped by the cap (report id, epoch, sequence, Unix time); for accounting of "
        "delivery across restarts (bench/soak.py). Unset: no ledger.",
    )


class GatherSettings(Section):
    """What a report reads and how often."""

    interval_seconds: float = Field(
        default=300.0,
        ge=1,
        description="Time between reports in `run` (seconds). Five minutes: network configuration "
        "changes slowly and a cluster-wide pod list costs the API server (short intervals are "
        "for demos and tests).",
    )
    coredns_log_tail_lines: int = Field(
        default=200,
        ge=1,
        le=10_000,
        description="Lines read from the end of each CoreDNS pod log for reload errors (count).",
    )
    max_reload_errors: int = Field(
        default=20, ge=1, description="Most recent reload-error lines kept per report (count)."
    )
    pod_metrics_timeout_seconds: float = Field(
        default=5.0,
        gt=0,
        le=60,
        description="Read timeout of one pod's /metrics through the API server's pod proxy "
        "(seconds): CoreDNS and azure-cns answer in milliseconds, and azure-cns is scraped "
        "once per node, so a hung endpoint must not hold the report for the request timeout.",
    )


class DnsSettings(Section):
    """Active DNS probes run from the agent pod."""

    server: str | None = Field(
        default=None,
        description="DNS server HOST:PORT to query; unset: the first nameserver of "
        "/etc/resolv.conf "
        "(CoreDNS inside a cluster).",
    )
    probe_names: list[str] = Field(
        default_factory=lambda: [DEFAULT_PROBE_NAME],
        description="Names always probed; the API server's in-cluster name proves CoreDNS answers.",
    )
    extra_probe_names: list[str] = Field(
        default_factory=list,
        description="More names to probe (e.g. the private API server FQDN); --dns-probe.",
    )
    query_type: str = Field(default="A", description="Record type queried.")
    timeout_seconds: float = Field(
        default=2.0,
        gt=0,
        le=30,
        description="Per-probe timeout (seconds); CoreDNS answers in milliseconds, 2 s marks "
        "a hang.",
    )

    @field_validator("server")
    @classmethod
    def _host_port(cls, value: str | None) -> str | None:
        if value:
            parse_host_port(value)
        return value or None

    def all_names(self) -> list[str]:
        return list(dict.fromkeys([*self.probe_names, *self.extra_probe_names]))


class HealthSettings(BaseModel):
    """The agent's own ``/healthz`` and ``/metrics``, served by `run` (not `run --once`)."""

    address: str = Field(
        default="127.0.0.1",
        min_length=1,
        description="Address they listen on. Loopback keeps them private to the pod; a chart "
        "that probes them from the kubelet or scrapes them sets the pod IP or 0.0.0.0.",
    )
    port: int = Field(
        default=9102,
        ge=0,
        le=65535,
        description="Port of /healthz and /metrics; 0 turns both off. 9102 sits beside the "
        "collector's 9000 and the CoreDNS (9153) and azure-cns (10092) ports the agent reads.",
    )
    unhealthy_after_intervals: float = Field(
        default=3.0,
        gt=1,
        description="/healthz fails once the last report the collector acknowledged is older "
        "than this many report intervals (count). 3 rides out a collector restart or one slow "
        "report; a stuck agent is restarted after three missed reports, not one.",
    )


class AgentSettings(BaseSettings):
    """Everything the agent can be told."""

    model_config = SettingsConfigDict(extra="forbid")

    kube: KubeSettings = Field(default_factory=KubeSettings)
    cluster: ClusterSettings = Field(default_factory=ClusterSettings)
    collector: CollectorSettings = Field(default_factory=CollectorSettings)
    spool: SpoolSettings = Field(default_factory=SpoolSettings)
    gather: GatherSettings = Field(default_factory=GatherSettings)
    dns: DnsSettings = Field(default_factory=DnsSettings)
    health: HealthSettings = Field(default_factory=HealthSettings)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="Log level; INFO logs one line per report and per stream event."
    )
    log_format: Literal["auto", "json", "text"] = Field(
        default="auto",
        description="auto: JSON lines when stderr is not a terminal (in a cluster), else text.",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, NetauditEnvSource(settings_cls, COLLECTOR_ENV_KEYS))


def load_settings(overrides: dict[str, Any] | None = None) -> AgentSettings:
    """Settings from flags (``overrides``, nested dicts) over the environment over defaults."""
    try:
        return AgentSettings(**(overrides or {}))
    except ValidationError as error:
        raise config_error(list(describe(error))) from error
    except SettingsError as error:
        raise config_error([str(error)]) from error


def config_error(problems: list[str]) -> ConfigError:
    """One problem: one line; several: a heading and one line each."""
    if len(problems) == 1:
        return ConfigError(f"invalid configuration: {problems[0]}")
    lines = "".join(f"\n  {problem}" for problem in problems)
    return ConfigError(f"invalid configuration, {len(problems)} problems:{lines}")


def describe(error: ValidationError) -> Iterator[str]:
    """A line per problem: ``collector.address: …``, ``unknown key … — did you mean …?``."""
    for item in error.errors():
        loc = tuple(item["loc"])
        where = ".".join(str(part) for part in loc)
        variable = _env_variable(loc, below=item["type"] == "extra_forbidden")
        source = f" (from {variable})" if variable else ""
        if item["type"] == "extra_forbidden":
            yield f"unknown key {where}{source}{_nearest_key(loc, variable is not None)}"
            continue
        message = str(item["msg"]).removeprefix("Value error, ")
        for line in message.splitlines():
            yield f"{where}{source}: {line}" if where else line


def _env_name(loc: tuple[str | int, ...]) -> str:
    return ENV_PREFIX + ENV_NESTED_DELIMITER.join(str(part) for part in loc).upper()


def _env_variable(loc: tuple[str | int, ...], *, below: bool) -> str | None:
    """The variable that set ``loc``; with ``below``, also one under it (an unknown key)."""
    wanted = _env_name(loc)
    for name in os.environ:
        upper = name.upper()
        if upper == wanted or (below and upper.startswith(wanted + ENV_NESTED_DELIMITER)):
            return name
    return None


def _nearest_key(loc: tuple[str | int, ...], from_env: bool) -> str:
    """ " — did you mean KEY?", or the valid keys at that level when none is close."""
    parent = _model_at(loc[:-1])
    if parent is None:
        return ""
    names = list(parent.model_fields)
    match = difflib.get_close_matches(str(loc[-1]).lower(), names, n=1, cutoff=0.6)
    if match:
        nearest = (*loc[:-1], match[0])
        shown = _env_name(nearest) if from_env else ".".join(str(p) for p in nearest)
        return f" — did you mean {shown}?"
    level = f"under {'.'.join(str(p) for p in loc[:-1])}" if loc[:-1] else "at the top level"
    return f" (valid keys {level}: {', '.join(names)})"


def _model_at(loc: tuple[str | int, ...]) -> type[BaseModel] | None:
    """The settings group at ``loc`` (the agent's groups nest one level)."""
    model: type[BaseModel] = AgentSettings
    for part in loc:
        info = model.model_fields.get(str(part))
        annotation = info.annotation if info is not None else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return None
        model = annotation
    return model


def require_for_run(settings: AgentSettings) -> None:
    """`run` streams to a collector under a cluster identity: both must be set."""
    missing = []
    if not settings.collector.address:
        missing.append(f"--collector HOST:PORT (or {ENV_PREFIX}COLLECTOR__ADDRESS)")
    if not settings.cluster.id:
        missing.append(f"--cluster-id ARM_ID (or {ENV_PREFIX}CLUSTER__ID)")
    if missing:
        raise ConfigError("missing " + " and ".join(missing))
