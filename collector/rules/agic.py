"""Application Gateway Ingress Controller rules (domain.md §5 AGW-*)."""

from __future__ import annotations

from collections.abc import Iterator

from netaudit.collector.rules.rule import DataSource, Rule, inventory, pending, report
from netaudit.collector.rules.settings import RuleSettings
from netaudit.collector.rules.view import ClusterView
from netaudit.v1 import audit_pb2

ADDON = "ingressapplicationgateway"
"""addonProfiles.ingressApplicationGateway, as the inventory keys it (lower-cased)."""

AGW_001 = Rule(
    id="AGW-001",
    title="AGIC target gateway missing/unhealthy",
    severity=audit_pb2.SEVERITY_HIGH,
    rationale=(
        "AGIC writes its configuration into one Application Gateway; when that gateway is "
        "missing, failed or stopped, ingress traffic stops."
    ),
    remediation=(
        "Check the gateway: az network application-gateway show --ids "
        "<effectiveApplicationGatewayId> --query "
        "'{state:operationalState,prov:provisioningState}'; start or repair it."
    ),
    references=(
        "https://learn.microsoft.com/azure/aks/../application-gateway/ingress-controller-overview",
    ),
    data_source=DataSource.ARM,
    reads=(pending("the Application Gateway the AGIC add-on targets"),),
    check=None,
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
