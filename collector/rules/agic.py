"""Application Gateway Ingress Controller rules (domain.md §5 AGW-*)."""

from __future__ import annotations

from collections.abc import Iterator

from netaudit.collector.rules.rule import DataSource, NotAssessed, Rule, inventory, report
from netaudit.collector.rules.settings import RuleSettings
from netaudit.collector.rules.view import ClusterView
from netaudit.v1 import audit_pb2, inventory_pb2

ADDON = "ingressapplicationgateway"
"""addonProfiles.ingressApplicationGateway, as the inventory keys it (lower-cased)."""

GATEWAY_KEY = "effectiveApplicationGatewayId"
"""The gateway AKS attached the add-on to (read-only, set for greenfield and BYO gateways)."""
SUCCEEDED = "succeeded"
RUNNING = "running"


def _setting(addon: inventory_pb2.Addon, key: str) -> str:
    """An add-on config value by key, ignoring case (ARM and the CLI differ)."""
    wanted = key.lower()
    return next((value for name, value in addon.config.items() if name.lower() == wanted), "")


def _gateway_unhealthy(
    rule: Rule, view: ClusterView, settings: RuleSettings
) -> Iterator[audit_pb2.Finding]:
    """ingressApplicationGateway enabled and (config.effectiveApplicationGatewayId missing,
    or ARM answers 404 for it, or provisioningState != Succeeded, or operationalState !=
    Running) (domain.md §5 AGW-001)."""
    cluster = view.require_inventory()
    addon = cluster.addons.get(ADDON)
    if addon is None or not addon.enabled:
        return
    gateway_id = _setting(addon, GATEWAY_KEY)
    if not gateway_id:
        configured = _setting(addon, "applicationGatewayId") or _setting(
            addon, "applicationGatewayName"
        )
        yield rule.finding(
            view,
            resource=view.cluster_key,
            message=f"the AGIC add-on of cluster {view.name} is enabled but names no "
            "effectiveApplicationGatewayId: AKS attached it to no Application Gateway, so "
            "Ingresses are not served",
            evidence={
                "effective_application_gateway_id": "none",
                "configured_gateway": configured or "none",
            },
        )
        return
    gateway = next(
        (g for g in cluster.application_gateways if g.id.lower() == gateway_id.lower()), None
    )
    if gateway is None:
        raise NotAssessed(f"the Application Gateway {gateway_id} was not read")
    evidence: dict[str, object] = {"application_gateway": gateway.name or gateway_id}
    if gateway.missing:
        yield rule.finding(
            view,
            resource=gateway_id.lower(),
            message=f"the Application Gateway {gateway_id} the AGIC add-on of cluster "
            f"{view.name} targets does not exist (ARM answers 404): Ingresses are not served",
            evidence={**evidence, "exists": False},
        )
        return
    problems = []
    if gateway.provisioning_state.lower() != SUCCEEDED:
        problems.append(f"provisioningState {gateway.provisioning_state or '(none)'}")
    if gateway.operational_state.lower() != RUNNING:
        problems.append(f"operationalState {gateway.operational_state or '(none)'}")
    if not problems:
        return
    yield rule.finding(
        view,
        resource=gateway_id.lower(),
        message=f"the Application Gateway {gateway.name} the AGIC add-on of cluster {view.name} "
        f"targets is not healthy ({', '.join(problems)}): AGIC cannot apply Ingress changes "
        "and traffic may not be served",
        evidence={
            **evidence,
            "provisioning_state": gateway.provisioning_state or "none",
            "operational_state": gateway.operational_state or "none",
            "sku": gateway.sku_name or "none",
        },
    )


AGW_001 = Rule(
    id="AGW-001",
    title="AGIC target gateway missing/unhealthy",
    severity=audit_pb2.SEVERITY_HIGH,
    rationale=(
        "AGIC writes its configuration into one Application Gateway; when that gateway is "
        "missing, failed or stopped, ingress traffic stops and Ingress changes are not applied."
    ),
    remediation=(
        "Check the gateway: az network application-gateway show --ids "
        "<effectiveApplicationGatewayId> --query "
        "'{state:operationalState,prov:provisioningState}'; start it (az network "
        "application-gateway start --ids <id>) or repair it, or re-enable the add-on with a "
        "gateway that exists (az aks enable-addons -a ingress-appgw --appgw-id <id>)."
    ),
    references=(
        "https://learn.microsoft.com/azure/application-gateway/ingress-controller-overview",
        "https://learn.microsoft.com/azure/application-gateway/tutorial-ingress-controller-add-on-existing",
    ),
    data_source=DataSource.ARM,
    reads=(inventory("cluster"), inventory("application_gateways")),
    check=_gateway_unhealthy,
)


def _agic_in_use(
    rule: Rule, view: ClusterView, settings: RuleSettings
) -> Iterator[audit_pb2.Finding]:
    """The AGIC add-on enabled in ARM, or an AGIC Deployment (add-on or Helm) the agent
    saw (domain.md §5 AGW-002). Either source is enough for the advisory; without a finding
    the engine reports the rule not assessed unless both sources were read."""
    evidence: dict[str, object] = {}
    seen = []
    addon = view.inventory.addons.get(ADDON) if view.inventory is not None else None
    if addon is not None and addon.enabled:
        evidence["addon_enabled"] = True
        gateway = addon.config.get("effectiveApplicationGatewayId") or addon.config.get(
            "applicationGatewayId", ""
        )
        if gateway:
            evidence["application_gateway_id"] = gateway.lower()
        seen.append("the ingressApplicationGateway add-on is enabled")
    deployments = list(view.report.agic.deployments) if view.report is not None else []
    if deployments:
        names = ", ".join(f"{d.namespace}/{d.name}" for d in deployments)
        evidence["deployments"] = names
        evidence["images"] = ",".join(sorted({i for d in deployments for i in d.images}))
        seen.append(f"AGIC runs as Deployment {names}")
    if not seen:
        return
    yield rule.finding(
        view,
        resource=view.cluster_key,
        message=f"cluster {view.name} uses the Application Gateway Ingress Controller "
        f"({'; '.join(seen)}): AKS directs new work to Application Gateway for Containers",
        evidence=evidence,
    )


AGW_002 = Rule(
    id="AGW-002",
    title="AGIC in use — migration advisory",
    severity=audit_pb2.SEVERITY_INFO,
    rationale="AGIC remains available, but Microsoft's direction for Application Gateway "
    "ingress on AKS is Application Gateway for Containers (Gateway API, faster updates, "
    "traffic splitting); planning the move early avoids a rushed migration later.",
    remediation="Plan the move to Application Gateway for Containers: install the ALB "
    "controller (az aks update --enable-application-load-balancer), recreate the Ingresses "
    "as Gateway/HTTPRoute (or Ingress with class azure-alb-external), then disable AGIC "
    "(az aks disable-addons --addons ingress-appgw, or helm uninstall).",
    references=(
        "https://learn.microsoft.com/azure/aks/long-term-support",
        "https://learn.microsoft.com/azure/application-gateway/for-containers/migrate-from-agic-to-agc",
    ),
    data_source=DataSource.ARM,
    # ARM shows the add-on, only the agent a Helm install: either finds it, both clear it
    reads=(inventory("cluster", optional=True), report("agic", optional=True)),
    check=_agic_in_use,
)
