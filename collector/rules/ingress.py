"""Ingress rules (domain.md §5 ING-*, §4.3): Ingresses no class serves, NGINX ingress
controllers whose support ends, and the retired HTTP application routing add-on."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

from netaudit.collector.rules.rule import (
    URGENT_DAYS,
    DataSource,
    Rule,
    dated_severity,
    inventory,
    report,
)
from netaudit.collector.rules.settings import RuleSettings
from netaudit.collector.rules.view import ClusterView
from netaudit.v1 import audit_pb2, report_pb2

CLASS_ANNOTATION = "kubernetes.io/ingress.class"


# -- ING-001 ---------------------------------------------------------------------------------


def _ingress_class_unresolved(
    rule: Rule, view: ClusterView, settings: RuleSettings
) -> Iterator[audit_pb2.Finding]:
    """An Ingress naming a class no IngressClass has, or naming none while no class is the
    default (domain.md §5 ING-001). A default class is given only to Ingresses that name
    none (the DefaultIngressClass admission plugin), so it does not rescue a wrong name."""
    evidence_of = view.require_report().ingress
    classes = {c.name: c for c in evidence_of.ingress_classes}
    defaults = sorted(c.name for c in evidence_of.ingress_classes if c.is_default)
    known = ",".join(sorted(classes))
    for ingress in evidence_of.ingresses:
        name = ingress.ingress_class_name
        if (name and name in classes) or (not name and defaults):
            continue
        where = f"Ingress {ingress.namespace}/{ingress.name}"
        evidence: dict[str, object] = {"ingress_classes": known, "default_class": ""}
        if name:
            evidence["ingress_class_name"] = name
            if ingress.annotations.get(CLASS_ANNOTATION) == name:
                evidence["class_from"] = f"annotation {CLASS_ANNOTATION}"
            problem = f"names class {name}, which no IngressClass defines"
        else:
            problem = "names no class and no IngressClass is marked default"
        yield rule.finding(
            view,
            resource=where,
            message=f"{where} {problem} (classes: {known or 'none'}): no controller is bound "
            "to serve it",
            evidence=evidence,
        )


ING_001 = Rule(
    id="ING-001",
    title="Ingress class unresolved",
    severity=audit_pb2.SEVERITY_MEDIUM,
    rationale="Ingress controllers serve the Ingresses of their IngressClass; an Ingress whose "
    "class does not exist, or that names none in a cluster without a default class, is "
    "served by no controller (or, with legacy controllers that watch every Ingress, by an "
    "unintended one).",
    remediation="Set spec.ingressClassName to an existing class (kubectl get ingressclass), "
    "e.g. webapprouting.kubernetes.azure.com or azure-application-gateway, or mark one class "
    "default with the annotation ingressclass.kubernetes.io/is-default-class=true.",
    references=(
        "https://kubernetes.io/docs/concepts/services-networking/ingress/#ingress-class",
        "https://github.com/kubernetes/kube-state-metrics/blob/main/docs/metrics/service/ingress-metrics.md",
    ),
    data_source=DataSource.AGENT,
    reads=(report("ingress"),),
    check=_ingress_class_unresolved,
)


# -- ING-002 ---------------------------------------------------------------------------------

NGINX_SUPPORT_END = date(2026, 11, 30)
"""AKS application routing's NGINX gets critical patches through November 2026; upstream
Ingress-NGINX maintenance ended in March 2026 (A-ING)."""
NGINX_CONTROLLERS = frozenset({"k8s.io/ingress-nginx", "webapprouting.kubernetes.azure.com/nginx"})
"""IngressClass controllers of upstream ingress-nginx and of the app routing add-on's NGINX."""
NGINX_IMAGES = ("ingress-nginx/controller", "nginx-ingress-controller")
"""Image paths of the ingress-nginx controller in the kube-system workloads of agents that
predate ``ingress.nginx_controllers``: registry.k8s.io/ingress-nginx/controller and
mcr.microsoft.com/oss/kubernetes/ingress/nginx-ingress-controller (app routing, the old HTTP
application routing add-on). F5's NGINX Ingress Controller (nginx/nginx-ingress) is another
product and does not match."""


def _nginx_controllers(report: report_pb2.Report) -> list[str]:
    """Each ingress-nginx controller the agent found in any namespace, with its version;
    from an older agent, the kube-system workloads running its image."""
    seen = {
        (c.namespace, c.name): f"{c.kind} {c.namespace}/{c.name}"
        + (f" {c.version}" if c.version else "")
        for c in report.ingress.nginx_controllers
    }
    for w in report.cni.workloads:
        if (w.namespace, w.name) not in seen and any(
            marker in image for image in w.images for marker in NGINX_IMAGES
        ):
            seen[(w.namespace, w.name)] = f"{w.kind} {w.namespace}/{w.name}"
    return [seen[key] for key in sorted(seen)]


def _nginx_in_use(
    rule: Rule, view: ClusterView, settings: RuleSettings
) -> Iterator[audit_pb2.Finding]:
    """ingressProfile.webAppRouting.enabled, an ingress-nginx IngressClass, or an
    ingress-nginx controller the agent sees in any namespace: medium, high from ``urgent_days``
    before the end of NGINX support (domain.md §5 ING-002, A-ING)."""
    evidence: dict[str, object] = {}
    seen = []
    if view.inventory is not None and view.inventory.ingress_profile.web_app_routing_enabled:
        evidence["web_app_routing"] = True
        seen.append("the application routing add-on (ingressProfile.webAppRouting) is enabled")
    if view.report is not None:
        classes = [
            f"{c.name} ({c.controller})"
            for c in view.report.ingress.ingress_classes
            if c.controller in NGINX_CONTROLLERS
        ]
        if classes:
            evidence["ingress_classes"] = ",".join(classes)
            seen.append(f"IngressClass {', '.join(classes)}")
        workloads = _nginx_controllers(view.report)
        if workloads:
            evidence["workloads"] = ",".join(workloads)
            seen.append(f"controller {', '.join(workloads)}")
    if not seen:
        return
    severity, days = dated_severity(rule, view, settings, NGINX_SUPPORT_END)
    when = f"in {days} days, on" if days >= 0 else f"{-days} days ago, on"
    yield rule.finding(
        view,
        resource=view.cluster_key,
        severity=severity,
        message=f"cluster {view.name} serves ingress with NGINX ({'; '.join(seen)}), whose "
        f"support on AKS ends {when} {NGINX_SUPPORT_END.isoformat()}",
        evidence={
            **evidence,
            "support_end": NGINX_SUPPORT_END.isoformat(),
            "days_remaining": days,
        },
    )


ING_002 = Rule(
    id="ING-002",
    title="NGINX (app routing or OSS) ingress in use",
    severity=audit_pb2.SEVERITY_MEDIUM,
    rationale="Upstream Ingress-NGINX maintenance ended in March 2026 and AKS gives the "
    "application routing add-on's NGINX critical patches only through November 2026; after "
    "that, security fixes stop. AKS's direction is the Gateway API.",
    remediation="Move ingress to the Gateway API: app routing's Gateway API implementation "
    "(GatewayClass approuting-istio) or Application Gateway for Containers, then remove NGINX "
    "(az aks approuting disable, or helm uninstall ingress-nginx).",
    references=(
        "https://learn.microsoft.com/azure/aks/app-routing-gateway-api",
        "https://learn.microsoft.com/azure/aks/long-term-support",
        "https://kubernetes.io/blog/2025/11/11/ingress-nginx-retirement/",
    ),
    data_source=DataSource.BOTH,
    # ARM shows the add-on, the agent its IngressClass and self-installed controllers:
    # either finds NGINX; only all of them clear the cluster
    reads=(
        inventory("cluster", optional=True),
        report("ingress", "ingressclasses", optional=True),
        report("ingress_nginx", "deployments", optional=True),
        report("ingress_nginx", "daemonsets", optional=True),
    ),
    check=_nginx_in_use,
    thresholds=(URGENT_DAYS,),
)


# -- ING-003 ---------------------------------------------------------------------------------

HTTP_APPLICATION_ROUTING = "httpapplicationrouting"
"""addonProfiles.httpApplicationRouting, as the inventory keys it (lower-cased)."""


def _http_application_routing(
    rule: Rule, view: ClusterView, settings: RuleSettings
) -> Iterator[audit_pb2.Finding]:
    """addonProfiles.httpApplicationRouting.enabled (domain.md §5 ING-003)."""
    addon = view.require_inventory().addons.get(HTTP_APPLICATION_ROUTING)
    if addon is None or not addon.enabled:
        return
    evidence: dict[str, object] = {"addon": "httpApplicationRouting", "enabled": True}
    zone = addon.config.get("HTTPApplicationRoutingZoneName", "")
    if zone:
        evidence["dns_zone"] = zone
    yield rule.finding(
        view,
        resource=view.cluster_key,
        message=f"cluster {view.name} has the HTTP application routing add-on enabled: it is "
        "retired, not meant for production, and exposes applications through a public DNS zone "
        "it creates",
        evidence=evidence,
    )


ING_003 = Rule(
    id="ING-003",
    title="httpApplicationRouting add-on enabled",
    severity=audit_pb2.SEVERITY_HIGH,
    rationale="The HTTP application routing add-on was never supported for production and is "
    "retired: its NGINX controller and ExternalDNS get no updates, and it publishes every "
    "Ingress host in a public DNS zone.",
    remediation="Move the Ingresses to the application routing add-on or the Gateway API, "
    "then disable it: az aks disable-addons --addons http_application_routing -g <rg> -n "
    "<cluster>.",
    references=(
        "https://learn.microsoft.com/azure/aks/http-application-routing",
        "https://azure.github.io/PSRule.Rules.Azure/en/rules/Azure.AKS.HttpAppRouting/",
    ),
    data_source=DataSource.ARM,
    reads=(inventory("cluster"),),
    check=_http_application_routing,
)
