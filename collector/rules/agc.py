"""Application Gateway for Containers rules (domain.md §5 AGC-*, §4.2): AGC on a network
model it does not support, Gateways not wired to an AGC deployment, associations outside
the node VNet."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

from netaudit.collector.analysis.network_model import NetworkModel
from netaudit.collector.rules.rule import (
    DataSource,
    DoesNotApply,
    NotAssessed,
    Rule,
    inventory,
    report,
)
from netaudit.collector.rules.settings import RuleSettings
from netaudit.collector.rules.view import ClusterView
from netaudit.v1 import audit_pb2, inventory_pb2, report_pb2

# -- the AGC evidence ---------------------------------------------------------------------

CLASS_NAME = "azure-alb-external"
"""The GatewayClass the ALB controller creates (Helm and add-on; AGC quickstarts)."""
CONTROLLER_NAME = "alb.networking.azure.io/alb-controller"
ALB_ID = "alb.networking.azure.io/alb-id"
ALB_NAME = "alb.networking.azure.io/alb-name"
ALB_NAMESPACE = "alb.networking.azure.io/alb-namespace"
OVERLAY_MINIMUM = (1, 5, 0)
"""ALB controller release from which Azure CNI Overlay is supported (AGC-NET)."""

NETWORK_MODEL = (inventory("cluster", either=True), report("nodes", either=True))
"""ARM names the network plugin; without an inventory the agent's node evidence does."""
CONTROLLERS = report("agc", "deployments")
"""The ALB controller Deployments (Helm in azure-alb-system, add-on in kube-system)."""
LOAD_BALANCERS = report("agc", "applicationloadbalancers", not_served_means_none=True)
"""ApplicationLoadBalancer objects; their CRD not installed means there are none."""


def _workload_name(workload: report_pb2.Workload) -> str:
    return f"{workload.namespace}/{workload.name}"


def _alb_name(alb: report_pb2.ApplicationLoadBalancer) -> str:
    return f"{alb.namespace}/{alb.name}"


def _agc_signals(view: ClusterView) -> dict[str, object]:
    """What shows AGC in the cluster: the AKS add-on in ARM, ALB controller Deployments, or
    ApplicationLoadBalancer objects the agent saw."""
    signals: dict[str, object] = {}
    if (
        view.inventory is not None
        and view.inventory.ingress_profile.application_load_balancer_enabled
    ):
        signals["addon"] = "ingressProfile.applicationLoadBalancer.enabled"
    if view.report is not None:
        agc = view.report.agc
        if agc.controllers:
            signals["controllers"] = ",".join(map(_workload_name, agc.controllers))
        if agc.application_load_balancers:
            signals["application_load_balancers"] = ",".join(
                map(_alb_name, agc.application_load_balancers)
            )
    return signals


# -- AGC-001 ---------------------------------------------------------------------------------


def _agc_on_kubenet(
    rule: Rule, view: ClusterView, settings: RuleSettings
) -> Iterator[audit_pb2.Finding]:
    """AGC present (add-on, ALB controller or ApplicationLoadBalancer objects) on a kubenet
    cluster (domain.md §5 AGC-001, AGC-NET: kubenet is not supported)."""
    if view.require_network_model() is not NetworkModel.KUBENET:
        raise DoesNotApply
    signals = _agc_signals(view)
    if not signals:
        return
    shown = "; ".join(f"{key}: {value}" for key, value in signals.items())
    yield rule.finding(
        view,
        resource=view.cluster_key,
        message=f"cluster {view.name} runs Application Gateway for Containers ({shown}) on "
        "kubenet, which AGC does not support: its data plane cannot reach the pods",
        evidence={"network_plugin": "kubenet", "model_from": view.network.source, **signals},
    )


AGC_001 = Rule(
    id="AGC-001",
    title="AGC on kubenet",
    severity=audit_pb2.SEVERITY_CRITICAL,
    rationale="Application Gateway for Containers sends traffic straight to pod IPs and "
    "supports Azure CNI (node subnet, pod subnet) and Azure CNI Overlay only; on kubenet, pod "
    "IPs are not routable from the AGC subnet, so every backend is unreachable.",
    remediation="Migrate the cluster to Azure CNI Overlay (az aks update --network-plugin "
    "azure --network-plugin-mode overlay) with ALB controller 1.5.0 or later, or remove AGC "
    "(az aks update --disable-application-load-balancer, or helm uninstall alb-controller).",
    references=(
        "https://learn.microsoft.com/azure/application-gateway/for-containers/container-networking",
    ),
    data_source=DataSource.BOTH,
    # the add-on shows in ARM; a Helm install only to the agent
    reads=(*NETWORK_MODEL, report("agc", optional=True, not_served_means_none=True)),
    check=_agc_on_kubenet,
)


# -- AGC-002 ---------------------------------------------------------------------------------

AGC_DELEGATION = "Microsoft.ServiceNetworking/trafficControllers"
AGC_PREFIX = 24
"""AGC needs a /24 subnet with Azure CNI Overlay and at least a /24 otherwise (AGC-NET)."""


def _associations(view: ClusterView) -> list[inventory_pb2.AgcAssociation]:
    """The inventory's associations, plus those of ApplicationLoadBalancer objects the
    agent reported after the refresh (their subnets may not be in the inventory yet)."""
    cluster = view.require_inventory()
    associations = list(cluster.agc_associations)
    known = {a.subnet_id.lower() for a in associations}
    for alb in view.require_report().agc.application_load_balancers:
        for subnet_id in alb.associations:
            if subnet_id and subnet_id.lower() not in known:
                known.add(subnet_id.lower())
                associations.append(
                    inventory_pb2.AgcAssociation(
                        source=f"ApplicationLoadBalancer {_alb_name(alb)}", subnet_id=subnet_id
                    )
                )
    return associations


def _subnet_problems(subnet: inventory_pb2.Subnet, overlay: bool) -> list[str]:
    problems = []
    if not any(d.lower() == AGC_DELEGATION.lower() for d in subnet.delegations):
        delegated = ", ".join(subnet.delegations) or "nothing"
        problems.append(f"it is delegated to {delegated}, not {AGC_DELEGATION}")
    lengths = [
        network.prefixlen
        for prefix in subnet.address_prefixes
        if (network := _ipv4_network(prefix)) is not None
    ]
    if not lengths:
        raise NotAssessed(f"subnet {subnet.id} has no IPv4 address prefix the inventory can parse")
    prefix = min(lengths)
    if overlay and prefix != AGC_PREFIX:
        problems.append(f"it is a /{prefix}, and AGC with Azure CNI Overlay needs exactly a /24")
    elif not overlay and prefix > AGC_PREFIX:
        problems.append(f"it is a /{prefix}, smaller than the /24 AGC needs")
    return problems


def _ipv4_network(prefix: str) -> ipaddress.IPv4Network | None:
    try:
        network = ipaddress.ip_network(prefix.strip(), strict=False)
    except ValueError:
        return None
    return network if isinstance(network, ipaddress.IPv4Network) else None


def _agc_subnet_invalid(
    rule: Rule, view: ClusterView, settings: RuleSettings
) -> Iterator[audit_pb2.Finding]:
    """Each AGC association subnet not delegated to
    Microsoft.ServiceNetworking/trafficControllers, or not a /24 with overlay, or smaller than
    a /24 otherwise (domain.md §5 AGC-002, AGC-CMP, AGC-NET)."""
    associations = _associations(view)
    if not associations:
        raise DoesNotApply
    overlay = view.require_network_model() is NetworkModel.AZURE_OVERLAY
    subnets = {s.id.lower(): s for s in view.require_inventory().subnets}
    unread = []
    for association in associations:
        subnet = subnets.get(association.subnet_id.lower())
        if subnet is None:
            unread.append(association.subnet_id or f"(none, {association.source})")
            continue
        problems = _subnet_problems(subnet, overlay)
        if not problems:
            continue
        yield rule.finding(
            view,
            resource=subnet.id,
            message=f"AGC subnet {subnet.name} ({association.source}) is invalid: "
            f"{'; '.join(problems)}",
            evidence={
                "association": association.id or association.source,
                "delegations": ",".join(subnet.delegations),
                "address_prefixes": ",".join(subnet.address_prefixes),
                "network_model": view.network.model.value,
            },
        )
    if unread:
        raise NotAssessed(
            f"the inventory holds no subnet {', '.join(unread)} of the AGC associations"
        )


AGC_002 = Rule(
    id="AGC-002",
    title="AGC subnet invalid",
    severity=audit_pb2.SEVERITY_HIGH,
    rationale=(
        "An AGC association needs a subnet delegated to "
        "Microsoft.ServiceNetworking/trafficControllers with at least 256 addresses (exactly "
        "/24 with overlay)."
    ),
    remediation=(
        "Delegate the subnet (az network vnet subnet update --delegations "
        "Microsoft.ServiceNetworking/trafficControllers) and size it /24."
    ),
    references=(
        "https://learn.microsoft.com/azure/application-gateway/for-containers/container-networking",
    ),
    data_source=DataSource.BOTH,
    # ALB-managed associations come from the agent's ApplicationLoadBalancer objects,
    # bring-your-own ones and every subnet from ARM
    reads=(
        inventory("cluster"),
        inventory("subnets"),
        inventory("agc_associations"),
        LOAD_BALANCERS,
    ),
    check=_agc_subnet_invalid,
)


# -- AGC-003 ---------------------------------------------------------------------------------


def _version(tag: str) -> tuple[int, ...] | None:
    """(major, minor, patch) of an image tag (``1.7.9``, ``v1.4.12``, ``1.5.0-rc.1``)."""
    core = tag.strip().lstrip("vV").split("-", 1)[0].split("+", 1)[0]
    parts = core.split(".")
    if not parts or not all(part.isdigit() for part in parts):
        return None
    numbers = [int(part) for part in parts[:3]]
    return tuple(numbers + [0] * (3 - len(numbers)))


def _controller_too_old_for_overlay(
    rule: Rule, view: ClusterView, settings: RuleSettings
) -> Iterator[audit_pb2.Finding]:
    """Azure CNI Overlay with an ALB controller image older than 1.5.0 (domain.md §5
    AGC-003, AGC-NET)."""
    if view.require_network_model() is not NetworkModel.AZURE_OVERLAY:
        return
    agc = view.require_report().agc
    controllers = [w for w in agc.controllers if "bootstrap" not in w.name]
    if not controllers:
        return
    names = ", ".join(map(_workload_name, controllers))
    if not agc.controller_version:
        raise NotAssessed(f"the ALB controller image of {names} carries no version tag")
    version = _version(agc.controller_version)
    if version is None:
        raise NotAssessed(f"the ALB controller image tag {agc.controller_version} does not parse")
    if version >= OVERLAY_MINIMUM:
        return
    minimum = ".".join(map(str, OVERLAY_MINIMUM))
    controller = controllers[0]
    yield rule.finding(
        view,
        resource=f"Deployment {_workload_name(controller)}",
        message=f"ALB controller {names} runs {agc.controller_version} on Azure CNI Overlay, "
        f"which needs {minimum} or later: AGC cannot reach overlay pod IPs",
        evidence={
            "controller_version": agc.controller_version,
            "minimum_version": minimum,
            "network_model": view.network.model.value,
            "model_from": view.network.source,
            "images": ",".join(controller.images),
        },
    )


AGC_003 = Rule(
    id="AGC-003",
    title="ALB controller too old for overlay",
    severity=audit_pb2.SEVERITY_HIGH,
    rationale="Application Gateway for Containers reaches pods on Azure CNI Overlay only from "
    "ALB controller 1.5.0 on; an older controller on an overlay cluster programs backends AGC "
    "cannot route to.",
    remediation="Upgrade the ALB controller to 1.5.0 or later: helm upgrade alb-controller "
    "oci://mcr.microsoft.com/application-lb/charts/alb-controller --namespace "
    "azure-alb-system --version <1.5.0 or later> (the AKS add-on upgrades with the cluster).",
    references=(
        "https://learn.microsoft.com/azure/application-gateway/for-containers/container-networking",
        "https://learn.microsoft.com/azure/application-gateway/for-containers/alb-controller-release-notes",
    ),
    data_source=DataSource.AGENT,
    reads=(*NETWORK_MODEL, CONTROLLERS),
    check=_controller_too_old_for_overlay,
)


# -- AGC-004 ---------------------------------------------------------------------------------


def _gateway_not_wired(
    rule: Rule, view: ClusterView, settings: RuleSettings
) -> Iterator[audit_pb2.Finding]:
    """An AGC Gateway (class azure-alb-external, or a class of the ALB controller) with
    neither an alb-id annotation (BYO) nor alb-name + alb-namespace naming an existing
    ApplicationLoadBalancer (managed; domain.md §5 AGC-004)."""
    agent_report = view.require_report()
    alb_classes = {
        c.name
        for c in agent_report.gateway_api.gateway_classes
        if c.controller_name == CONTROLLER_NAME
    } | {CLASS_NAME}
    albs = {(alb.namespace, alb.name) for alb in agent_report.agc.application_load_balancers}
    for gateway in agent_report.gateway_api.gateways:
        if gateway.gateway_class_name not in alb_classes:
            continue
        annotations = gateway.annotations
        if annotations.get(ALB_ID, "").strip():
            continue
        name = annotations.get(ALB_NAME, "").strip()
        namespace = annotations.get(ALB_NAMESPACE, "").strip()
        if name and namespace and (namespace, name) in albs:
            continue
        if name and namespace:
            problem = f"ApplicationLoadBalancer {namespace}/{name} it names does not exist"
        else:
            absent = [a for a, v in ((ALB_NAME, name), (ALB_NAMESPACE, namespace)) if not v]
            problem = f"it has no {ALB_ID} annotation and no {' / '.join(absent)}"
        yield rule.finding(
            view,
            resource=f"{gateway.namespace}/{gateway.name}",
            message=f"AGC Gateway {gateway.namespace}/{gateway.name} (class "
            f"{gateway.gateway_class_name}) is not wired to an Application Gateway for "
            f"Containers: {problem}, so the ALB controller provisions no frontend for it",
            evidence={
                "gateway_class": gateway.gateway_class_name,
                "alb_name": name,
                "alb_namespace": namespace,
                "application_load_balancers": ",".join(f"{ns}/{n}" for ns, n in sorted(albs)),
            },
        )


AGC_004 = Rule(
    id="AGC-004",
    title="AGC Gateway not wired to an ALB",
    severity=audit_pb2.SEVERITY_HIGH,
    rationale="The ALB controller programs a Gateway into the Application Gateway for "
    "Containers named by its annotations: alb-id (bring your own deployment) or alb-name and "
    "alb-namespace (an ApplicationLoadBalancer the controller manages). Without them, or with "
    "a missing ApplicationLoadBalancer, the Gateway gets no address and serves nothing.",
    remediation="Annotate the Gateway with alb.networking.azure.io/alb-namespace and "
    "alb.networking.azure.io/alb-name of an existing ApplicationLoadBalancer (kubectl get "
    "applicationloadbalancer -A), create that ApplicationLoadBalancer, or set "
    "alb.networking.azure.io/alb-id to the ARM id of the AGC resource.",
    references=(
        "https://learn.microsoft.com/azure/application-gateway/for-containers/quickstart-create-application-gateway-for-containers-managed-by-alb-controller",
        "https://learn.microsoft.com/azure/application-gateway/for-containers/quickstart-create-application-gateway-for-containers-byo-deployment",
    ),
    data_source=DataSource.AGENT,
    reads=(report("gateway_api", not_served_means_none=True), LOAD_BALANCERS),
    check=_gateway_not_wired,
)


# -- AGC-005 ---------------------------------------------------------------------------------


def _vnet_of(subnet_id: str) -> str | None:
    """The lower-cased VNet id of a subnet id, None when it is not a subnet id."""
    lowered = subnet_id.strip().lower()
    vnet, marker, subnet = lowered.partition("/subnets/")
    if not marker or not subnet or "/providers/microsoft.network/virtualnetworks/" not in vnet:
        return None
    return vnet


def _agc_across_vnets(
    rule: Rule, view: ClusterView, settings: RuleSettings
) -> Iterator[audit_pb2.Finding]:
    """Azure CNI Overlay with an ApplicationLoadBalancer associated to a subnet outside the
    node pools' VNet (domain.md §5 AGC-005, AGC-NET: overlay across VNet peering is not
    supported). Pools without vnetSubnetID use the AKS-managed VNet in the node resource
    group."""
    cluster = view.require_inventory()
    if view.require_network_model() is not NetworkModel.AZURE_OVERLAY:
        return
    node_vnets = {vnet for p in cluster.agent_pools if (vnet := _vnet_of(p.vnet_subnet_id))}
    managed = not any(p.vnet_subnet_id for p in cluster.agent_pools)
    node_group = cluster.node_resource_group.lower()
    managed_prefix = (
        f"/subscriptions/{cluster.subscription_id}/resourcegroups/{node_group}/".lower()
    )
    unparsed = []
    for alb in view.require_report().agc.application_load_balancers:
        elsewhere = []
        for association in alb.associations:
            vnet = _vnet_of(association)
            if vnet is None:
                unparsed.append(f"{_alb_name(alb)}: {association}")
                continue
            if managed and not node_group:
                raise NotAssessed(
                    "the node pools use the AKS-managed VNet and the inventory has no node "
                    "resource group to find it in"
                )
            same = vnet.startswith(managed_prefix) if managed else vnet in node_vnets
            if not same:
                elsewhere.append((association, vnet))
        if elsewhere:
            yield _across_vnets_finding(rule, view, alb, elsewhere, node_vnets, node_group)
    if unparsed:
        raise NotAssessed(
            f"ApplicationLoadBalancer associations are not subnet ids: {'; '.join(unparsed)}"
        )


def _across_vnets_finding(
    rule: Rule,
    view: ClusterView,
    alb: report_pb2.ApplicationLoadBalancer,
    elsewhere: list[tuple[str, str]],
    node_vnets: set[str],
    node_group: str,
) -> audit_pb2.Finding:
    node_side = (
        ",".join(sorted(node_vnets))
        if node_vnets
        else f"the AKS-managed VNet in resource group {node_group}"
    )
    subnets = ", ".join(subnet for subnet, _ in elsewhere)
    return rule.finding(
        view,
        resource=f"ApplicationLoadBalancer {_alb_name(alb)}",
        message=f"ApplicationLoadBalancer {_alb_name(alb)} is associated to {subnets}, outside "
        f"the node VNet ({node_side}); with Azure CNI Overlay, AGC across VNet peering cannot "
        "reach the pods",
        evidence={
            "association_subnets": subnets,
            "association_vnets": ",".join(sorted({vnet for _, vnet in elsewhere})),
            "node_vnets": node_side,
            "network_model": view.network.model.value,
        },
    )


AGC_005 = Rule(
    id="AGC-005",
    title="AGC across VNet peering with overlay",
    severity=audit_pb2.SEVERITY_HIGH,
    rationale="With Azure CNI Overlay, Application Gateway for Containers must sit in the "
    "cluster's own VNet: routing to overlay pod IPs from a subnet in a peered VNet (regional "
    "or global) is not supported, so backends are unreachable.",
    remediation="Create a /24 subnet delegated to Microsoft.ServiceNetworking/"
    "trafficControllers in the node VNet and point the ApplicationLoadBalancer's "
    "associations at it (kubectl edit applicationloadbalancer <name> -n <ns>).",
    references=(
        "https://learn.microsoft.com/azure/application-gateway/for-containers/container-networking",
    ),
    # ARM names the node VNet; the association subnet comes from the agent's
    # ApplicationLoadBalancer objects (BYO associations live only in ARM: not gathered yet)
    data_source=DataSource.BOTH,
    reads=(inventory("cluster"), LOAD_BALANCERS),
    check=_agc_across_vnets,
)
