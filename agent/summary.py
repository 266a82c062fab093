"""Reading report files and summarising a Report for people (``inspect``)."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path

from google.protobuf import json_format
from google.protobuf.message import DecodeError

from netaudit.agent.errors import MalformedReport
from netaudit.v1 import report_pb2


def write_report(report: report_pb2.Report, path: Path) -> None:
    """JSON when the file name ends in ``.json``, binary protobuf otherwise."""
    if path.suffix.lower() == ".json":
        path.write_text(report_to_json(report) + "\n")
    else:
        path.write_bytes(report.SerializeToString())


def report_to_json(report: report_pb2.Report) -> str:
    return json_format.MessageToJson(report, preserving_proto_field_name=True, indent=2)


def read_report(path: Path) -> report_pb2.Report:
    """A report file written by ``snapshot``: JSON when it is named .json or starts like JSON,
    else binary protobuf."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise MalformedReport(f"cannot read {path}: {error.strerror or error}") from error
    report = report_pb2.Report()
    if path.suffix.lower() == ".json" or data.lstrip()[:1] == b"{":
        try:
            json_format.Parse(data.decode("utf-8"), report)
        except (json_format.ParseError, UnicodeDecodeError) as error:
            raise MalformedReport(f"{path} is not a netaudit report (JSON): {error}") from error
    else:
        try:
            report.ParseFromString(data)
        except DecodeError as error:
            raise MalformedReport(f"{path} is not a netaudit report (protobuf): {error}") from error
    if not report.report_id:
        raise MalformedReport(f"{path} is not a netaudit report: it has no report id")
    return report


def summarize(report: report_pb2.Report) -> list[str]:
    """A few lines per evidence source."""
    cluster = report.cluster
    lines = [
        f"report    {report.report_id}  epoch {report.agent_epoch} seq {report.sequence}  "
        f"gathered {report.gathered_at.ToJsonString()}",
        f"cluster   {cluster.name or '-'}  {cluster.arm_resource_id or '(no ARM id)'}  "
        f"kubernetes {cluster.kubernetes_version or '?'}  agent {cluster.agent_version or '?'}",
    ]
    lines += _nodes(report)
    cni = report.cni
    lines.append(
        f"cni       {len(cni.workloads)} add-on workloads, {len(cni.crds)} networking CRDs, "
        f"ip-masq configs {[c.config_map for c in cni.ip_masq_agent_configs] or '-'}, "
        f"cns {cni.cns_config.channel_mode or '-'}"
    )
    if cni.cns_metrics:
        lines.append(_cns_pools(cni.cns_metrics))
    lines.append(
        f"services  {report.services.services_total} total, "
        f"{len(report.load_balancer_services)} LoadBalancer "
        f"({sum(s.internal for s in report.load_balancer_services)} internal)"
    )
    policies = sum(p.network_policies + p.cilium_network_policies for p in report.network_policies)
    lines.append(f"netpol    {policies} policies in {len(report.network_policies)} namespaces")
    coredns = report.coredns
    lines.append(
        f"coredns   {len(coredns.deployments)} deployments, custom keys "
        f"{[f.key for f in coredns.custom] or '-'}, {len(coredns.reload_errors)} reload errors"
    )
    for probe in coredns.probes:
        outcome = probe.rcode or f"error: {probe.error}"
        answers = ", ".join(probe.answers) or "-"
        lines.append(
            f"  probe   {probe.name} @{probe.server}: {outcome} [{answers}] "
            f"{probe.latency_seconds * 1000:.1f} ms"
        )
    gateway = report.gateway_api
    lines.append(
        f"gateway   {len(gateway.gateway_classes)} classes, {len(gateway.gateways)} gateways, "
        f"{len(gateway.routes)} routes, {len(gateway.reference_grants)} reference grants"
    )
    lines.append(
        f"agc       {len(report.agc.application_load_balancers)} ALBs, "
        f"controller {report.agc.controller_version or '-'};  "
        f"agic {len(report.agic.deployments)} deployments"
    )
    classes = [c.name + ("*" if c.is_default else "") for c in report.ingress.ingress_classes]
    lines.append(f"ingress   {len(report.ingress.ingresses)} ingresses, classes {classes or '-'}")
    dns = report.external_dns
    owners = [f"{i.provider}/{i.txt_owner_id}" for i in dns.instances]
    lines.append(
        f"extdns    {len(dns.instances)} instances {owners or ''}, "
        f"{len(dns.requested_names)} requested names"
    )
    lines.append(f"gaps      {len(report.gaps)}")
    lines += [f"  {g.gatherer}: {g.resource} ({g.reason}) {g.message}" for g in report.gaps]
    return lines


def _cns_pools(pools: Sequence[report_pb2.CnsNodeMetrics]) -> str:
    empty = sorted(p.node for p in pools if p.HasField("available_ips") and p.available_ips <= 0)
    exhausted = [p for p in pools if any(s.exhaustion_state for s in p.subnets)]
    return (
        f"cns pool  {len(pools)} nodes scraped, {len(empty)} with no free IP "
        f"{empty or '-'}, {len(exhausted)} see a subnet exhausted"
    )


def _nodes(report: report_pb2.Report) -> list[str]:
    pools: dict[str, list[report_pb2.Node]] = defaultdict(list)
    for node in report.nodes:
        pools[node.pool or "(no pool)"].append(node)
    lines = [f"nodes     {len(report.nodes)} in {len(pools)} pools"]
    for pool, members in sorted(pools.items()):
        os_names = Counter(n.os for n in members)
        ready = sum(n.ready for n in members)
        pods = sum(n.pods_on_pod_network for n in members)
        host = sum(n.host_network_pods for n in members)
        nncs = sum(n.HasField("node_network_config") for n in members)
        lines.append(
            f"  {pool:<10} {len(members)} nodes ({', '.join(sorted(os_names))}), {ready} ready, "
            f"{pods} pod-network + {host} hostNetwork pods, {nncs} NNCs"
        )
    return lines
