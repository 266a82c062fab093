"""The fleet-wide step: clusters sharing a subnet (CNI-001/003/008/010) or an ExternalDNS
owner id (EDN-001), with two and three clusters, built from the published payloads through
the same claim projection the store writes (KUB-003's cases live with the kubenet rules)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from netaudit.agent.gatherers.externaldns import external_dns_instance, is_external_dns
from netaudit.collector.analysis.fleet import inventory_claims, report_claims
from netaudit.collector.rules import Outcome
from netaudit.v1 import audit_pb2
from tests.rule_cases import (
    FleetCase,
    RuleCase,
    facts_of,
    inventory_of,
    k8s_documents,
    managed_cluster,
    new_report,
)

CNI_CLUSTER = "azcli-recording_ManagedClusterGet_azure-cni-windows-pool.json"
NET = (
    "/subscriptions/aaaaaaaa-0000-0000-0000-000000000001/resourceGroups/rg-net/providers/"
    "Microsoft.Network"
)
VNET = f"{NET}/virtualNetworks/vnet-shared"
NODES = f"{VNET}/subnets/snet-nodes"
PODS = f"{VNET}/subnets/snet-pods"

Groups = Callable[[], Mapping[str, list[tuple[str, list[audit_pb2.FleetClaim]]]]]


def cluster_key(index: int) -> str:
    base = managed_cluster(CNI_CLUSTER)["id"].rsplit("/", 1)[0]
    return f"{base}/aks-{index}".lower()


def cluster_body(
    index: int,
    *,
    max_count: int = 5,
    pod_mode: str | None = None,
    max_pods: int = 30,
) -> dict[str, Any]:
    """The recorded Azure CNI cluster, renamed aks-<index>, its Linux pool autoscaling to
    ``max_count`` with maxSurge 1 on the shared node subnet (and pod subnet with a mode)."""
    body = managed_cluster(CNI_CLUSTER)
    body["id"] = cluster_key(index)
    body["name"] = f"aks-{index}"
    pool = body["properties"]["agentPoolProfiles"][0]
    pool.update(
        vnetSubnetID=NODES,
        enableAutoScaling=True,
        minCount=1,
        maxCount=max_count,
        maxPods=max_pods,
        upgradeSettings={"maxSurge": "1"},
    )
    if pod_mode is not None:
        pool.update(podSubnetID=PODS, podIPAllocationMode=pod_mode)
    body["properties"]["agentPoolProfiles"] = [pool]
    return body


def claims_of(body: dict[str, Any], *, node_used: int, pod_used: int) -> list[audit_pb2.FleetClaim]:
    """The claims the store writes for this cluster's inventory (hand-made subnets and usages)."""
    inventory = inventory_of(
        body,
        subnets=[
            {"id": NODES, "name": "snet-nodes", "properties": {"addressPrefix": "10.10.0.0/24"}},
            {"id": PODS, "name": "snet-pods", "properties": {"addressPrefix": "10.20.0.0/24"}},
        ],
        vnets=[
            (
                {"id": VNET},
                [
                    {"id": NODES, "currentValue": node_used, "limit": 251},
                    {"id": PODS, "currentValue": pod_used, "limit": 251},
                ],
            )
        ],
    )
    return inventory_claims(inventory)


def subnets(*bodies: dict[str, Any], node_used: int = 100, pod_used: int = 100) -> Groups:
    def build() -> Mapping[str, list[tuple[str, list[audit_pb2.FleetClaim]]]]:
        groups: dict[str, list[audit_pb2.FleetClaim]] = {}
        for body in bodies:
            for claim in claims_of(body, node_used=node_used, pod_used=pod_used):
                groups.setdefault(claim.subnet.subnet_id, []).append(claim)
        return {"subnet": sorted(groups.items())}

    return build


def keys(*indexes: int) -> frozenset[str]:
    return frozenset(cluster_key(i) for i in indexes)


def names_both(findings: list[audit_pb2.Finding]) -> None:
    first = next(f for f in findings if f.cluster_key == cluster_key(0))
    assert first.resource == NODES.lower()
    assert (first.evidence["required"], first.evidence["usable"]) == ("372", "251")
    assert first.evidence["this_cluster"] == "186"
    assert first.evidence["shared_with"] == "aks-1"
    assert "aks-0 186, aks-1 186" in first.message


CNI_FLEET_CASES = [
    # (5 + 1) * (30 + 1) = 186 each: one cluster fits a /24 (251), two do not
    FleetCase(
        "CNI-001",
        "two-clusters-186-each-on-a-slash-24",
        subnets(cluster_body(0), cluster_body(1)),
        keys(0, 1),
        names_both,
    ),
    FleetCase(
        "CNI-001",
        "three-clusters-100-each",
        subnets(*(cluster_body(i, max_count=2, max_pods=32) for i in range(3))),
        keys(0, 1, 2),
    ),
    FleetCase(
        "CNI-001",
        "two-clusters-that-fit-together",
        subnets(cluster_body(0, max_count=3), cluster_body(1, max_count=3)),
        frozenset(),
    ),
    # surge: 1 * 31 per cluster against the free IPs of the shared node subnet
    FleetCase(
        "CNI-003",
        "two-clusters-surge-62-with-50-free",
        subnets(cluster_body(0), cluster_body(1), node_used=201),
        keys(0, 1),
    ),
    FleetCase(
        "CNI-003",
        "three-clusters-surge-93-with-80-free",
        subnets(*(cluster_body(i) for i in range(3)), node_used=171),
        keys(0, 1, 2),
    ),
    FleetCase(
        "CNI-003",
        "two-clusters-with-room",
        subnets(cluster_body(0), cluster_body(1), node_used=100),
        frozenset(),
    ),
    # dynamic pod subnet: 16 * (5 + 1) = 96 per cluster against the free pod-subnet IPs
    FleetCase(
        "CNI-008",
        "two-dynamic-clusters-192-with-150-free",
        subnets(*(cluster_body(i, pod_mode="DynamicIndividual") for i in range(2)), pod_used=101),
        keys(0, 1),
    ),
    FleetCase(
        "CNI-008",
        "three-dynamic-clusters-288-with-200-free",
        subnets(*(cluster_body(i, pod_mode="DynamicIndividual") for i in range(3)), pod_used=51),
        keys(0, 1, 2),
    ),
    FleetCase(
        "CNI-008",
        "static-block-clusters-are-sized-elsewhere",
        subnets(*(cluster_body(i, pod_mode="StaticBlock") for i in range(2)), pod_used=240),
        frozenset(),
    ),
    FleetCase(
        "CNI-010",
        "dynamic-and-static-clusters-on-one-pod-subnet",
        subnets(
            cluster_body(0, pod_mode="DynamicIndividual"), cluster_body(1, pod_mode="StaticBlock")
        ),
        keys(0, 1),
    ),
    FleetCase(
        "CNI-010",
        "three-clusters-one-static",
        subnets(
            cluster_body(0, pod_mode="DynamicIndividual"),
            cluster_body(1),
            cluster_body(2, pod_mode="StaticBlock"),
        ),
        keys(0, 2),
    ),
    FleetCase(
        "CNI-010",
        "two-dynamic-clusters",
        subnets(*(cluster_body(i, pod_mode="DynamicIndividual") for i in range(2))),
        frozenset(),
    ),
]
"""(CNI-010's three-cluster case: aks-1 has no pod subnet, so only the two pod-subnet
clusters share it; aks-0 and aks-2 both get the finding.)"""


# -- EDN-001 -----------------------------------------------------------------------------


def external_dns(manifest: str, *, owner: str | None = None, domain: str | None = None) -> Any:
    """The ExternalDNS Deployment of a published manifest, its flags altered where given."""
    (deployment,) = [d for d in k8s_documents(f"externaldns/{manifest}") if is_external_dns(d)]
    # the manifests are applied to a namespace; the API server would fill it in
    deployment["metadata"].setdefault("namespace", "default")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    args = [a for a in container["args"] if not (domain and a.startswith("--domain-filter"))]
    if owner:
        args.append(f"--txt-owner-id={owner}")
    if domain:
        args.append(f"--domain-filter={domain}")
    container["args"] = args
    return deployment


def owners(*clusters: tuple[int, list[Any]]) -> Groups:
    def build() -> Mapping[str, list[tuple[str, list[audit_pb2.FleetClaim]]]]:
        groups: dict[str, list[audit_pb2.FleetClaim]] = {}
        for index, deployments in clusters:
            report = new_report(cluster_key(index))
            report.cluster.name = f"aks-{index}"
            report.external_dns.instances.extend(external_dns_instance(d) for d in deployments)
            for claim in report_claims(report):
                groups.setdefault(claim.external_dns.owner_id, []).append(claim)
        return {"external_dns": sorted(groups.items())}

    return build


PUBLIC = "azure_manifest_rbac-cluster.yaml"
PRIVATE = "azure-private-dns_manifest_rbac-cluster.yaml"


def names_the_other_instance(findings: list[audit_pb2.Finding]) -> None:
    first = next(f for f in findings if f.cluster_key == cluster_key(0))
    assert first.severity == audit_pb2.SEVERITY_CRITICAL
    assert first.evidence["txt_owner_id"] == "default"
    assert first.evidence["shared_with"] == "aks-1/default/external-dns"
    assert first.resource == "externaldns default/external-dns"


EDN_FLEET_CASES = [
    FleetCase(
        "EDN-001",
        "two-clusters-default-owner-same-domain",
        owners((0, [external_dns(PUBLIC)]), (1, [external_dns(PUBLIC)])),
        keys(0, 1),
        names_the_other_instance,
    ),
    FleetCase(
        "EDN-001",
        "three-clusters-parent-and-child-domains",
        owners(
            (0, [external_dns(PUBLIC)]),
            (1, [external_dns(PUBLIC, domain="shop.example.com")]),
            (2, [external_dns(PUBLIC, domain="other.org")]),
        ),
        keys(0, 1),
    ),
    FleetCase(
        "EDN-001",
        "unique-owner-ids",
        owners(
            (0, [external_dns(PUBLIC, owner="aks-0")]), (1, [external_dns(PUBLIC, owner="aks-1")])
        ),
        frozenset(),
    ),
    FleetCase(
        "EDN-001",
        "public-and-private-zones-do-not-collide",
        owners((0, [external_dns(PUBLIC)]), (1, [external_dns(PRIVATE)])),
        frozenset(),
    ),
]

FLEET_CASES = CNI_FLEET_CASES + EDN_FLEET_CASES

CASES = [
    RuleCase(
        "EDN-001",
        "a-cluster-with-its-agent-report",
        lambda: facts_of(inventory_of(cluster_body(0)), new_report(cluster_key(0))),
        Outcome.PASSED,
    ),
    RuleCase(
        "EDN-001",
        "without-an-agent-report",
        lambda: facts_of(inventory_of(cluster_body(0))),
        Outcome.NOT_ASSESSED,
    ),
]
