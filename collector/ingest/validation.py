"""What a report must look like before the collector stores it.

Pure: a ``Report`` in, a list of violations out, each naming the field path
(``nodes[3].pod_cidrs[0]: not a CIDR: '10.0.0.0/33'``). Every field of the contract
is walked, so a field added to report.proto is bounded without a change here:

- the cluster id is a well-formed AKS managed-cluster ARM id, the report id what the
  agent's spool can name a file after;
- strings are at most ``DEFAULT_MAX_CHARS`` characters, or their field's limit in
  ``MAX_CHARS``; repeated fields and maps hold at most ``DEFAULT_MAX_ITEMS`` entries,
  or their field's limit in ``MAX_ITEMS``;
- numbers are non-negative: every integer in the contract is a count, a generation,
  a port, a weight, an epoch or a sequence, every double a count, a duration or a
  histogram bound (+Inf allowed, NaN not); a field that may be negative belongs in
  ``SIGNED``. Ports fit in 16 bits, timestamps lie between years 1 and 9999;
- addresses that the Kubernetes API server itself validated (node pod CIDRs and
  internal IPs, Service cluster IPs, load-balancer ingress) parse as such: anything
  else there was not read from a cluster.

Values users type into ConfigMaps (the Corefile, ip-masq-agent CIDRs) are only
bounded, not parsed: a malformed value there is evidence for a rule to report, not a
reason to refuse the report.

The limits fit a 5,000-node cluster (AKS's maximum) with room to spare; the report's
size is bounded separately (ingest.max_report_bytes).
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from netaudit.v1 import report_pb2

MAX_VIOLATIONS = 20
"""Violations listed per report: the first ones say what to fix; the walk stops there."""
CLIP_CHARS = 64
"""Characters of an offending value quoted in a violation."""

DEFAULT_MAX_CHARS = 1_024
"""Kubernetes names are at most 253 characters, label keys 317, ARM ids a few hundred."""
_CONFIG_MAP_BYTES = 1_048_576  # a ConfigMap's data is at most 1 MiB
_ANNOTATIONS_BYTES = 262_144  # an object's annotations are at most 256 KiB together
_CONDITION_MESSAGE = 32_768  # metav1.Condition.message maxLength
_DIAGNOSTIC = 16_384  # error texts the agent recorded (API errors, CoreDNS log lines)
MAX_CHARS: dict[str, int] = {
    "netaudit.v1.ClusterIdentity.name": 63,  # AKS cluster names: 1-63 characters
    "netaudit.v1.CoreDns.corefile": _CONFIG_MAP_BYTES,
    "netaudit.v1.CoreDns.autoscaler_config": _CONFIG_MAP_BYTES,
    "netaudit.v1.CorefileFragment.content": _CONFIG_MAP_BYTES,
    "netaudit.v1.CoreDns.reload_errors": _DIAGNOSTIC,
    "netaudit.v1.DnsProbe.error": _DIAGNOSTIC,
    "netaudit.v1.Gap.message": _DIAGNOSTIC,
    "netaudit.v1.Workload.args": _DIAGNOSTIC,  # container args embed JSON now and then
    "netaudit.v1.Condition.message": _CONDITION_MESSAGE,
    "netaudit.v1.Gateway.annotations": _ANNOTATIONS_BYTES,
    "netaudit.v1.Route.annotations": _ANNOTATIONS_BYTES,
    "netaudit.v1.Ingress.annotations": _ANNOTATIONS_BYTES,
    "netaudit.v1.LoadBalancerService.annotations": _ANNOTATIONS_BYTES,
}
"""Longer strings, by field (for a map: its values)."""

DEFAULT_MAX_ITEMS = 1_000
"""Labels, args, conditions, listeners, probes...: per object, far below this."""
MAX_ITEMS: dict[str, int] = {
    # AKS allows 5,000 nodes per cluster; twice that covers upgrade surge and virtual nodes.
    "netaudit.v1.Report.nodes": 10_000,
    # The agent folds requests that arrive while a gather is due into one report.
    "netaudit.v1.Report.answers_request_ids": 64,
    # one azure-cns (a DaemonSet) per node
    "netaudit.v1.CniEvidence.cns_metrics": 10_000,
    # Kubernetes gives a node at most one pod CIDR per IP family.
    "netaudit.v1.Node.pod_cidrs": 2,
    "netaudit.v1.Node.internal_ips": 16,
    # Kubernetes' scalability thresholds: 10,000 Services and 10,000 namespaces per cluster,
    # with room (dual-stack Services have two cluster IPs).
    "netaudit.v1.ServiceNetwork.cluster_ips": 100_000,
    "netaudit.v1.Report.network_policies": 20_000,
    "netaudit.v1.Report.load_balancer_services": 20_000,
    "netaudit.v1.IngressEvidence.ingresses": 20_000,
    "netaudit.v1.GatewayApi.gateways": 10_000,
    "netaudit.v1.GatewayApi.routes": 20_000,
    "netaudit.v1.GatewayApi.reference_grants": 10_000,
    "netaudit.v1.ExternalDns.requested_names": 100_000,
    "netaudit.v1.Report.gaps": 10_000,
}
"""More entries, by repeated field or map."""

SIGNED: frozenset[str] = frozenset()
"""Numeric fields that may be negative (none yet)."""

_GUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
# Resource groups: 1-90 of letters, digits, _ ( ) - . and not ending in "."; AKS cluster
# names: 1-63 of letters, digits, _ and -, starting and ending with a letter or digit.
_AKS_CLUSTER_ID = re.compile(
    rf"/subscriptions/{_GUID}/resourcegroups/[\w().-]{{0,89}}[\w()-]"
    r"/providers/microsoft\.containerservice/managedclusters/"
    r"[a-z0-9](?:[a-z0-9_-]{0,61}[a-z0-9])?",
    re.IGNORECASE,
)
_AKS_CLUSTER_ID_FORM = (
    "/subscriptions/<subscription guid>/resourceGroups/<group>/providers/"
    "Microsoft.ContainerService/managedClusters/<name>"
)
# What the agent's spool names files after (a UUID in practice).
_REPORT_ID = re.compile(r"[A-Za-z0-9_.-]{1,128}")
_DNS_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_DNS_NAME = re.compile(rf"(?=.{{1,253}}$){_DNS_LABEL}(?:\.{_DNS_LABEL})*", re.IGNORECASE)
_PORT_FIELDS = frozenset({"netaudit.v1.Listener.port", "netaudit.v1.ObjectReference.port"})
_MIN_SECONDS, _MAX_SECONDS = -62_135_596_800, 253_402_300_799  # 0001-01-01 .. 9999-12-31
_INTEGERS = frozenset(
    {
        FieldDescriptor.CPPTYPE_INT32,
        FieldDescriptor.CPPTYPE_INT64,
        FieldDescriptor.CPPTYPE_UINT32,
        FieldDescriptor.CPPTYPE_UINT64,
    }
)


@dataclass(frozen=True)
class Violation:
    """One thing wrong with a report: where (the field path) and what."""

    path: str
    problem: str

    def __str__(self) -> str:
        return f"{self.path}: {self.problem}"


def clip(text: str, limit: int = CLIP_CHARS) -> str:
    """``text`` cut to ``limit`` characters, saying how long it was."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text)} characters)"


def _quoted(value: str) -> str:
    return repr(clip(value))


def _is_cidr(value: str) -> bool:
    if "/" not in value:
        return False
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return False
    return True


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _cidr(value: str) -> str | None:
    return None if _is_cidr(value) else f"not a CIDR: {_quoted(value)}"


def _cidr_if_set(value: str) -> str | None:
    return None if not value else _cidr(value)


def _ip(value: str) -> str | None:
    return None if _is_ip(value) else f"not an IP address: {_quoted(value)}"


def _ip_or_hostname(value: str) -> str | None:
    if _is_ip(value) or _DNS_NAME.fullmatch(value):
        return None
    return f"neither an IP address nor a DNS name: {_quoted(value)}"


def _cluster_id(value: str) -> str | None:
    if _AKS_CLUSTER_ID.fullmatch(value):
        return None
    return f"not an AKS managed cluster id ({_AKS_CLUSTER_ID_FORM}): {_quoted(value)}"


def _report_id(value: str) -> str | None:
    if _REPORT_ID.fullmatch(value):
        return None
    return f"must be 1-128 of letters, digits, '_', '.' and '-': {_quoted(value)}"


_FORMATS: dict[str, Callable[[str], str | None]] = {
    "netaudit.v1.Report.report_id": _report_id,
    "netaudit.v1.Report.answers_request_ids": _report_id,
    "netaudit.v1.ClusterIdentity.arm_resource_id": _cluster_id,
    "netaudit.v1.Node.pod_cidrs": _cidr,
    "netaudit.v1.Node.internal_ips": _ip,
    "netaudit.v1.NetworkContainer.subnet_address_space": _cidr_if_set,
    "netaudit.v1.ServiceNetwork.cluster_ips": _ip,
    "netaudit.v1.LoadBalancerService.load_balancer_addresses": _ip_or_hostname,
    "netaudit.v1.Ingress.load_balancer_addresses": _ip_or_hostname,
}
"""String formats, by field; the API server validated these before the agent read them."""


class _Enough(Exception):
    """MAX_VIOLATIONS reached: stop walking."""


class _Walk:
    def __init__(self) -> None:
        self.violations: list[Violation] = []

    def add(self, path: str, problem: str) -> None:
        self.violations.append(Violation(path, problem))
        if len(self.violations) >= MAX_VIOLATIONS:
            raise _Enough

    def message(self, message: Message, path: str) -> None:
        for field, value in message.ListFields():
            where = f"{path}.{field.name}" if path else field.name
            if _is_map(field):
                self.map(field, value, where)
            elif field.is_repeated:
                self.items(field, len(value), where)
                for index, item in enumerate(value):
                    self.value(field, item, f"{where}[{index}]")
            else:
                self.value(field, value, where)

    def items(self, field: FieldDescriptor, count: int, where: str) -> None:
        limit = MAX_ITEMS.get(field.full_name, DEFAULT_MAX_ITEMS)
        if count > limit:
            self.add(where, f"{count} entries, more than {limit}")

    def map(self, field: FieldDescriptor, entries: dict[object, object], where: str) -> None:
        self.items(field, len(entries), where)
        entry_type = field.message_type
        assert entry_type is not None  # a map is a repeated entry message
        value_field = entry_type.fields_by_name["value"]
        for key, value in entries.items():
            entry = f"{where}[{_quoted(str(key))}]"
            if isinstance(key, str):
                self.text(key, DEFAULT_MAX_CHARS, f"{entry} (key)")
            if isinstance(value, str):
                self.text(value, MAX_CHARS.get(field.full_name, DEFAULT_MAX_CHARS), entry)
            else:
                self.value(value_field, value, entry)

    def value(self, field: FieldDescriptor, value: object, where: str) -> None:
        if isinstance(value, Timestamp):
            self.timestamp(value, where)
        elif isinstance(value, Message):
            self.message(value, where)
        elif isinstance(value, str):
            self.text(value, MAX_CHARS.get(field.full_name, DEFAULT_MAX_CHARS), where)
            check = _FORMATS.get(field.full_name)
            problem = check(value) if check is not None else None
            if problem is not None:
                self.add(where, problem)
        elif isinstance(value, bytes) and len(value) > DEFAULT_MAX_CHARS:
            self.add(where, f"{len(value)} bytes, more than {DEFAULT_MAX_CHARS}")
        elif isinstance(value, int) and field.cpp_type in _INTEGERS:
            self.integer(field, value, where)
        elif isinstance(value, float):
            self.number(field, value, where)

    def text(self, value: str, limit: int, where: str) -> None:
        if len(value) > limit:
            self.add(where, f"{len(value)} characters, more than {limit}: {_quoted(value)}")

    def integer(self, field: FieldDescriptor, value: int, where: str) -> None:
        if value < 0 and field.full_name not in SIGNED:
            self.add(where, f"must not be negative, not {value}")
        elif field.full_name in _PORT_FIELDS and value > 65_535:
            self.add(where, f"not a port: {value}")

    def number(self, field: FieldDescriptor, value: float, where: str) -> None:
        if math.isnan(value) or (value < 0 and field.full_name not in SIGNED):
            self.add(where, f"must be a non-negative number, not {value}")

    def timestamp(self, value: Timestamp, where: str) -> None:
        seconds, nanos = value.seconds, value.nanos
        if not _MIN_SECONDS <= seconds <= _MAX_SECONDS or not 0 <= nanos <= 999_999_999:
            self.add(where, f"not a time between years 1 and 9999: {seconds}s {nanos}ns")


def _is_map(field: FieldDescriptor) -> bool:
    return field.message_type is not None and field.message_type.GetOptions().map_entry


def _required(report: report_pb2.Report) -> Iterator[Violation]:
    if not report.report_id:
        yield Violation("report_id", "required")
    if not report.cluster.arm_resource_id:
        yield Violation("cluster.arm_resource_id", "required")


def report_violations(report: report_pb2.Report) -> list[Violation]:
    """What is wrong with ``report`` (empty when it may be stored), at most MAX_VIOLATIONS."""
    walk = _Walk()
    try:
        for violation in _required(report):
            walk.add(violation.path, violation.problem)
        walk.message(report, "")
    except _Enough:
        pass
    return walk.violations


def agent_id_violations(agent_id: str) -> list[Violation]:
    """The hello's agent id is stored with every report: a Pod name or a host name."""
    if len(agent_id) > 253:
        return [Violation("hello.agent_id", f"{len(agent_id)} characters, more than 253")]
    return []


def describe(violations: list[Violation]) -> str:
    """One line for the client and the log: every violation found, already clipped."""
    more = " (and maybe more)" if len(violations) >= MAX_VIOLATIONS else ""
    return "; ".join(str(v) for v in violations) + more
