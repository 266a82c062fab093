"""CoreDNS rules (DNS-*), from the published AKS coredns-custom ConfigMaps, the upstream
CoreDNS add-on manifest and the recorded LocalDNS cluster.

Objects go through the agent's converters (agent/gatherers/coredns.py, cni.py) into the
report, as the agent would send them. The AKS default Corefile is hand-written from
domain.md §3.1 (tests/handmade.py); other hand-made objects say so where they are built.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest

from netaudit.agent.gatherers import cni as cni_gatherer
from netaudit.agent.gatherers import coredns as gatherer
from netaudit.agent.gatherers import coredns_metrics
from netaudit.collector.rules import Outcome, RuleOutcome, RuleSettings, evaluate_rule
from netaudit.collector.rules.coredns import (
    DNS_001,
    DNS_002,
    DNS_003,
    DNS_004,
    DNS_005,
    DNS_006,
    DNS_007,
    DNS_008,
    DNS_009,
    DNS_010,
    DNS_011,
)
from netaudit.collector.rules.rule import Rule
from netaudit.collector.rules.settings import PerRuleSettings
from netaudit.collector.rules.view import ClusterView
from netaudit.v1 import audit_pb2, inventory_pb2, report_pb2
from tests.conftest import REPO, SHARED_FIXTURES
from tests.handmade import AKS_COREFILE
from tests.rule_cases import (
    NOW,
    RuleCase,
    facts_of,
    inventory_of,
    k8s_documents,
    managed_cluster,
    new_report,
    reason_mentions,
)
from tests.rule_cases import (
    evidence_has as evidence,
)

COREDNS = SHARED_FIXTURES / "k8s" / "coredns"
CLUSTER = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/rg1/providers/"
    "Microsoft.ContainerService/managedClusters/clustername1"
)
CUSTOM_GAP = "configmaps/v1 kube-system/coredns-custom"
RULES: dict[str, Rule] = {
    rule.id: rule
    for rule in (
        DNS_001,
        DNS_002,
        DNS_003,
        DNS_004,
        DNS_005,
        DNS_006,
        DNS_007,
        DNS_008,
        DNS_010,
        DNS_011,
    )
}

# The AKS default autoscaler ladder, hand-made from coredns-autoscale.md (domain.md §3.3).
AKS_LADDER = (
    '{"coresToReplicas":[[1,2],[512,3],[1024,4],[2048,5]],'
    '"nodesToReplicas":[[1,2],[8,3],[16,4],[32,5]]}'
)

# A CoreDNS log in CoreDNS's format, hand-made; the message is plugin/reload's own.
RELOAD_FAILED_LOG = (
    "[INFO] plugin/reload: Running configuration SHA512 = 1b226df79\n"
    "[ERROR] plugin/reload: Corefile changed but reload failed: plugin/forward: this plugin "
    "can only be used once per Server Block\n"
)

Document = dict[str, Any]


# -- building reports from manifests --------------------------------------------------


def custom_map(name: str, edit: Callable[[str], str] = lambda text: text) -> Document:
    """The coredns-custom ConfigMap of a fixture, with ``edit`` applied to every value
    and key (a case's alteration)."""
    (document,) = k8s_documents(f"coredns/{name}")
    document["data"] = {edit(str(k)): edit(str(v)) for k, v in document["data"].items()}
    return document


def hand_made_custom(data: Mapping[str, str]) -> Document:
    """A coredns-custom ConfigMap with hand-made keys."""
    return {"metadata": {"name": "coredns-custom", "namespace": "kube-system"}, "data": dict(data)}


def coredns_deployment(available: int | None = None) -> Document:
    """The upstream add-on's Deployment kube-system/coredns (no replicas, no status as
    published); ``available`` adds replicas and a status, as a running cluster has them."""
    (document,) = [
        d
        for d in k8s_documents("coredns/kubernetes_coredns.yaml.base")
        if d.get("kind") == "Deployment"
    ]
    if available is not None:
        document["spec"]["replicas"] = 2
        document["status"] = {"readyReplicas": available, "availableReplicas": available}
    return document


def report_of(
    custom: Document | None = None,
    *,
    corefile: str = AKS_COREFILE,
    deployments: Iterable[Document] = (),
    autoscaler: Mapping[str, str] | None = None,
    logs: Mapping[str, str] | None = None,
    gaps: Iterable[tuple[str, str]] = (),
) -> report_pb2.Report:
    report = new_report(CLUSTER)
    evidence = report.coredns
    evidence.corefile = corefile
    if custom is not None:
        evidence.custom_present = True
        evidence.custom.extend(gatherer.custom_fragments(custom))
    evidence.deployments.extend(gatherer.coredns_deployments(deployments))
    if autoscaler is not None:
        evidence.autoscaler_config.update(
            gatherer.autoscaler_config(
                {"metadata": {"name": "coredns-autoscaler"}, "data": autoscaler}
            )
        )
    for pod, text in (logs or {}).items():
        evidence.reload_errors.extend(gatherer.reload_errors(text, pod))
    for resource, reason in gaps:
        report.gaps.add(gatherer="coredns", resource=resource, reason=reason, message="denied")
    return report


def facts(
    report: report_pb2.Report, inventory: inventory_pb2.ClusterInventory | None = None
) -> audit_pb2.ClusterFacts:
    return facts_of(inventory, report)


def custom_facts(
    custom: Document, corefile: str = AKS_COREFILE
) -> Callable[[], audit_pb2.ClusterFacts]:
    return lambda: facts(report_of(custom, corefile=corefile))


def forbidden_custom() -> audit_pb2.ClusterFacts:
    return facts(
        report_of(
            custom_map("aks_coredns-custom_log-override.yaml"),
            deployments=[coredns_deployment(available=2)],
            autoscaler={"ladder": AKS_LADDER},
            gaps=[(CUSTOM_GAP, "forbidden")],
        )
    )


def outcome(
    rule: Rule, facts_: audit_pb2.ClusterFacts, settings: RuleSettings | None = None
) -> RuleOutcome:
    return evaluate_rule(rule, ClusterView(facts_), settings or RuleSettings())


def with_threshold(rule_id: str, name: str, value: float) -> RuleSettings:
    # model_construct: the settings validator checks ids against the registered rules.
    return RuleSettings.model_construct(
        per_rule={rule_id: PerRuleSettings(thresholds={name: value})}
    )


# -- checks on outcomes -------------------------------------------------------------------


def resource(expected: str) -> Callable[[RuleOutcome], None]:
    def check(result: RuleOutcome) -> None:
        assert [f.resource for f in result.findings] == [expected]

    return check


def error_contains(text: str) -> Callable[[RuleOutcome], None]:
    def check(result: RuleOutcome) -> None:
        (finding,) = result.findings
        assert text in finding.evidence["error"], dict(finding.evidence)

    return check


def both(*checks: Callable[[RuleOutcome], None]) -> Callable[[RuleOutcome], None]:
    def check(result: RuleOutcome) -> None:
        for one in checks:
            one(result)

    return check


BROKEN_OVERRIDE = hand_made_custom({"broken.override": "forward . 1.1.1.1 {\n"})
BROKEN_SERVER = hand_made_custom({"broken.server": "example.org:53 {\n  forward . 10.0.0.4\n"})
PARSE_ERROR_OVERRIDE = reason_mentions(
    "coredns-custom does not parse", "broken.override", "never closed"
)
PARSE_ERROR_SERVER = reason_mentions(
    "coredns-custom does not parse", "broken.server", "never closed"
)
FORBIDDEN = reason_mentions(
    "the agent could not read configmaps/v1 kube-system/coredns-custom (forbidden"
)


def rename(old: str, new: str) -> Callable[[str], str]:
    return lambda text: text.replace(old, new)


# -- DNS-010 facts ------------------------------------------------------------------------


def node_local_dns() -> Document:
    # Hand-made: the upstream NodeLocal DNSCache DaemonSet's name, namespace and label
    # (kubernetes/kubernetes cluster/addons/dns/nodelocaldns; incluster.md §2); no
    # published copy is among the fixtures.
    return {
        "kind": "DaemonSet",
        "metadata": {
            "name": "node-local-dns",
            "namespace": "kube-system",
            "labels": {"k8s-app": "node-local-dns"},
        },
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "node-cache",
                            "image": "registry.k8s.io/dns/k8s-dns-node-cache:1.23.1",
                        }
                    ]
                }
            }
        },
    }


def localdns_facts(*, state: str = "Enabled", nodelocal: bool = True) -> audit_pb2.ClusterFacts:
    """The published LocalDNS cluster (pool nodepool1, state Enabled), ``state`` altered."""
    cluster = managed_cluster("ManagedClustersCreate_LocalDNS.json")
    cluster["properties"]["agentPoolProfiles"][0]["localDNSProfile"]["state"] = state
    inventory = inventory_of(cluster)
    report = new_report(inventory.arm_resource_id)
    daemonsets = [node_local_dns()] if nodelocal else []
    report.cni.workloads.extend(cni_gatherer.addon_workloads([], daemonsets))
    return facts_of(inventory, report)


def nested_snippet_corefile() -> str:
    """corefile.5.md's snippet-import Corefile extended by hand with a snippet that imports
    the fixture's snippet and AKS's overrides: a snippet importing a snippet."""
    published = (COREDNS / "coredns_corefile5_snippet-import.Corefile").read_text()
    extended = published.replace(
        ". {\n    import mysnippet\n}",
        "(aks) {\n    import mysnippet\n    import custom/*.override\n}\n\n. {\n    import aks\n}",
    )
    assert extended != published
    return extended


# -- the cases ----------------------------------------------------------------------------

CASES = [
    # DNS-001
    RuleCase(
        "DNS-001",
        "published-forward-key-renamed-to-conf",
        custom_facts(
            custom_map("aks_coredns-custom_forward.yaml", rename("test.server", "test.conf"))
        ),
        Outcome.FINDINGS,
        check=both(resource("kube-system/coredns-custom/test.conf"), evidence(key="test.conf")),
    ),
    RuleCase(
        "DNS-001",
        "published-stub-domains",
        custom_facts(custom_map("aks_coredns-custom_stub-domains.yaml")),
        Outcome.PASSED,
    ),
    RuleCase(
        "DNS-001",
        "coredns-custom-forbidden",
        forbidden_custom,
        Outcome.NOT_ASSESSED,
        check=FORBIDDEN,
    ),
    # DNS-002
    RuleCase(
        "DNS-002",
        "forward-override-hand-made",
        custom_facts(hand_made_custom({"upstream.override": "forward . 168.63.129.16\n"})),
        Outcome.FINDINGS,
        check=both(
            resource("kube-system/coredns-custom/upstream.override"),
            evidence(plugins="forward", **{"forward.args": ". 168.63.129.16"}),
        ),
    ),
    RuleCase(
        "DNS-002",
        "published-hosts-override",
        custom_facts(custom_map("aks_coredns-custom_hosts-override.yaml")),
        Outcome.PASSED,
    ),
    RuleCase(
        "DNS-002",
        "unparsable-override",
        custom_facts(BROKEN_OVERRIDE),
        Outcome.NOT_ASSESSED,
        check=PARSE_ERROR_OVERRIDE,
    ),
    RuleCase(
        "DNS-002",
        "coredns-custom-forbidden",
        forbidden_custom,
        Outcome.NOT_ASSESSED,
        check=FORBIDDEN,
    ),
    # DNS-003
    RuleCase(
        "DNS-003",
        "published-custom-domain-zone-changed-to-root",
        custom_facts(
            custom_map("aks_coredns-custom_custom-domain.yaml", rename("puglife.local:53", ".:53"))
        ),
        Outcome.FINDINGS,
        check=both(
            resource("kube-system/coredns-custom/puglife.server"),
            evidence(root_zone="true", conflicts_with="main Corefile", serves="dns://.:53"),
        ),
    ),
    RuleCase(
        "DNS-003",
        "published-stub-domains",
        custom_facts(custom_map("aks_coredns-custom_stub-domains.yaml")),
        Outcome.PASSED,
    ),
    RuleCase(
        "DNS-003",
        "unparsable-server",
        custom_facts(BROKEN_SERVER),
        Outcome.NOT_ASSESSED,
        check=PARSE_ERROR_SERVER,
    ),
    RuleCase(
        "DNS-003",
        "coredns-custom-forbidden",
        forbidden_custom,
        Outcome.NOT_ASSESSED,
        check=FORBIDDEN,
    ),
    # DNS-004
    RuleCase(
        "DNS-004",
        "reload-failed-in-log",
        lambda: facts(report_of(logs={"coredns-7d9b-abc": RELOAD_FAILED_LOG})),
        Outcome.FINDINGS,
        check=both(
            resource("Deployment kube-system/coredns"),
            evidence(lines="1", pods="coredns-7d9b-abc"),
        ),
    ),
    RuleCase(
        "DNS-004",
        "logs-read-clean",
        lambda: facts(
            report_of(logs={"coredns-7d9b-abc": RELOAD_FAILED_LOG.splitlines(keepends=True)[0]})
        ),
        Outcome.PASSED,
    ),
    RuleCase(
        "DNS-004",
        "one-pod-log-unreadable",
        lambda: facts(report_of(gaps=[("pods/log kube-system/coredns-7d9b-xyz", "forbidden")])),
        Outcome.NOT_ASSESSED,
        check=reason_mentions("pods/log kube-system/coredns-7d9b-xyz"),
    ),
    # DNS-005
    RuleCase(
        "DNS-005",
        "published-custom-domain-with-external-fanout",
        custom_facts(
            custom_map("aks_coredns-custom_custom-domain.yaml", rename("forward .", "fanout ."))
        ),
        Outcome.FINDINGS,
        check=both(
            resource("kube-system/coredns-custom/puglife.server"), evidence(plugins="fanout")
        ),
    ),
    RuleCase(
        "DNS-005",
        "published-rewrite",
        custom_facts(custom_map("aks_coredns-custom_rewrite.yaml")),
        Outcome.PASSED,
    ),
    RuleCase(
        "DNS-005",
        "unparsable-override",
        custom_facts(BROKEN_OVERRIDE),
        Outcome.NOT_ASSESSED,
        check=PARSE_ERROR_OVERRIDE,
    ),
    RuleCase(
        "DNS-005",
        "coredns-custom-forbidden",
        forbidden_custom,
        Outcome.NOT_ASSESSED,
        check=FORBIDDEN,
    ),
    # DNS-006
    RuleCase(
        "DNS-006",
        "published-log-override",
        custom_facts(custom_map("aks_coredns-custom_log-override.yaml")),
        Outcome.FINDINGS,
        check=both(
            resource("kube-system/coredns-custom/log.override"),
            evidence(classes="all", server_block=".:53"),
        ),
    ),
    RuleCase(
        "DNS-006",
        "published-hosts-override",
        custom_facts(custom_map("aks_coredns-custom_hosts-override.yaml")),
        Outcome.PASSED,
    ),
    RuleCase(
        "DNS-006",
        "unparsable-override",
        custom_facts(BROKEN_OVERRIDE),
        Outcome.NOT_ASSESSED,
        check=PARSE_ERROR_OVERRIDE,
    ),
    RuleCase(
        "DNS-006",
        "coredns-custom-forbidden",
        forbidden_custom,
        Outcome.NOT_ASSESSED,
        check=FORBIDDEN,
    ),
    # DNS-007
    RuleCase(
        "DNS-007",
        "upstream-deployment-without-status",
        lambda: facts(report_of(deployments=[coredns_deployment()])),
        Outcome.FINDINGS,
        check=both(
            resource("Deployment kube-system/coredns"),
            evidence(available="0", desired="1", min_replicas="2"),
        ),
    ),
    RuleCase(
        "DNS-007",
        "two-available",
        lambda: facts(report_of(deployments=[coredns_deployment(available=2)])),
        Outcome.PASSED,
    ),
    RuleCase("DNS-007", "coredns-custom-forbidden", forbidden_custom, Outcome.PASSED),
    RuleCase(
        "DNS-007",
        "no-coredns-deployment",
        lambda: facts(report_of()),
        Outcome.NOT_ASSESSED,
        check=reason_mentions("no Deployment kube-system/coredns"),
    ),
    RuleCase(
        "DNS-007",
        "deployments-forbidden",
        lambda: facts(
            report_of(
                deployments=[coredns_deployment(available=2)],
                gaps=[("deployments.apps/v1", "forbidden")],
            )
        ),
        Outcome.NOT_ASSESSED,
        check=reason_mentions("deployments.apps/v1"),
    ),
    # DNS-008
    RuleCase(
        "DNS-008",
        "aks-ladder-with-one-replica-step",
        lambda: facts(
            report_of(
                autoscaler={
                    "ladder": AKS_LADDER.replace(
                        '"nodesToReplicas":[[1,2]', '"nodesToReplicas":[[1,1]'
                    ).replace('"coresToReplicas":[[1,2]', '"coresToReplicas":[[1,1]')
                }
            )
        ),
        Outcome.FINDINGS,
        check=both(
            resource("kube-system/coredns-autoscaler"),
            evidence(mode="ladder", min_replicas_possible="1"),
        ),
    ),
    RuleCase(
        "DNS-008",
        "aks-ladder-not-json",
        lambda: facts(report_of(autoscaler={"ladder": AKS_LADDER[:-1]})),
        Outcome.FINDINGS,
        check=error_contains("ladder is not JSON"),
    ),
    RuleCase(
        "DNS-008",
        "aks-default-ladder",
        lambda: facts(report_of(autoscaler={"ladder": AKS_LADDER})),
        Outcome.PASSED,
    ),
    RuleCase("DNS-008", "coredns-custom-forbidden", forbidden_custom, Outcome.PASSED),
    # DNS-010
    RuleCase(
        "DNS-010",
        "localdns-enabled-and-node-local-dns",
        localdns_facts,
        Outcome.FINDINGS,
        check=both(
            resource("DaemonSet kube-system/node-local-dns"),
            evidence(localdns_pools="nodepool1", daemonset="node-local-dns"),
        ),
    ),
    RuleCase(
        "DNS-010",
        "localdns-disabled-with-node-local-dns",
        lambda: localdns_facts(state="Disabled"),
        Outcome.PASSED,
    ),
    RuleCase(
        "DNS-010",
        "localdns-enabled-alone",
        lambda: localdns_facts(nodelocal=False),
        Outcome.PASSED,
    ),
    RuleCase(
        "DNS-010",
        "no-inventory",
        lambda: facts(report_of()),
        Outcome.NOT_ASSESSED,
        check=reason_mentions("no inventory"),
    ),
    # DNS-011
    RuleCase(
        "DNS-011",
        "published-stub-domains-for-internal-cloudapp",
        custom_facts(
            custom_map(
                "aks_coredns-custom_stub-domains.yaml",
                rename("abc.com:53", "internal.cloudapp.net:53"),
            )
        ),
        Outcome.FINDINGS,
        check=both(
            resource("kube-system/coredns-custom/test.server"),
            evidence(zones="internal.cloudapp.net"),
        ),
    ),
    RuleCase(
        "DNS-011",
        "published-stub-domains",
        custom_facts(custom_map("aks_coredns-custom_stub-domains.yaml")),
        Outcome.PASSED,
    ),
    RuleCase(
        "DNS-011",
        "unparsable-server",
        custom_facts(BROKEN_SERVER),
        Outcome.NOT_ASSESSED,
        check=PARSE_ERROR_SERVER,
    ),
    RuleCase(
        "DNS-011",
        "coredns-custom-forbidden",
        forbidden_custom,
        Outcome.NOT_ASSESSED,
        check=FORBIDDEN,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_case(case: RuleCase) -> None:
    """Each case through the engine (the catalogue runs them too once the rules are registered)."""
    settings = RuleSettings.model_construct()
    result = evaluate_rule(RULES[case.rule_id], ClusterView(case.facts()), settings)
    assert result.outcome is case.expect, f"{result.outcome}: {result.reason}"
    if case.expect is Outcome.FINDINGS:
        assert result.findings and all(f.rule_id == case.rule_id for f in result.findings)
    else:
        assert result.findings == ()
    if case.expect is Outcome.NOT_ASSESSED:
        assert result.reason
    if case.check is not None:
        case.check(result)


def findings(rule: Rule, facts_: audit_pb2.ClusterFacts) -> list[audit_pb2.Finding]:
    return list(outcome(rule, facts_).findings)


def custom(data: Mapping[str, str], corefile: str = AKS_COREFILE) -> audit_pb2.ClusterFacts:
    return facts(report_of(hand_made_custom(data), corefile=corefile))


PUBLISHED_CUSTOM = sorted(p.name for p in COREDNS.glob("aks_coredns-custom_*.yaml"))


# -- a forbidden config map, parse errors -------------------------------------------------


def test_forbidden_coredns_custom_leaves_replica_rules_assessed() -> None:
    result = {rule_id: outcome(rule, forbidden_custom()) for rule_id, rule in RULES.items()}
    for rule_id in ("DNS-001", "DNS-002", "DNS-003", "DNS-005", "DNS-006", "DNS-011"):
        assert result[rule_id].outcome is Outcome.NOT_ASSESSED, rule_id
        assert CUSTOM_GAP in result[rule_id].reason
    assert result["DNS-007"].outcome is Outcome.PASSED
    assert result["DNS-008"].outcome is Outcome.PASSED


def test_a_gap_on_the_autoscaler_config_map_touches_only_dns_008() -> None:
    report = report_of(
        custom_map("aks_coredns-custom_log-override.yaml"),
        deployments=[coredns_deployment(available=2)],
        gaps=[("configmaps/v1 kube-system/coredns-autoscaler", "forbidden")],
    )
    assert outcome(DNS_008, facts(report)).outcome is Outcome.NOT_ASSESSED
    assert outcome(DNS_006, facts(report)).outcome is Outcome.FINDINGS
    assert outcome(DNS_007, facts(report)).outcome is Outcome.PASSED


def test_findings_on_other_keys_stand_when_one_key_does_not_parse() -> None:
    result = outcome(
        DNS_002,
        custom({"upstream.override": "forward . 10.0.0.4\n", "broken.override": "log {\n"}),
    )
    assert result.outcome is Outcome.FINDINGS
    assert [f.resource for f in result.findings] == ["kube-system/coredns-custom/upstream.override"]
    assert "broken.override" in result.reason


def test_a_broken_server_key_does_not_stop_override_rules() -> None:
    assert outcome(DNS_006, facts(report_of(BROKEN_SERVER))).outcome is Outcome.PASSED


def test_no_report_is_not_assessed() -> None:
    result = outcome(DNS_002, audit_pb2.ClusterFacts(cluster_key="c1"))
    assert (result.outcome, result.reason) == (
        Outcome.NOT_ASSESSED,
        "no agent report from this cluster",
    )


# -- snippets -------------------------------------------------------------------------------


def test_a_snippet_importing_a_snippet_is_expanded() -> None:
    corefile = nested_snippet_corefile()
    view = ClusterView(custom({"log.override": "log\n"}, corefile))
    (block,) = view.coredns.main_blocks
    assert block.plugin_names() == ["log", "whoami"]
    assert view.coredns.override_blocks["log.override"] == (block,)


def test_overrides_imported_through_nested_snippets_are_judged() -> None:
    corefile = nested_snippet_corefile()
    (logging,) = findings(DNS_006, custom({"log.override": "log\n"}, corefile))
    assert logging.evidence["server_block"] == "."
    (duplicate,) = findings(
        DNS_002, custom({"upstream.override": "forward . 10.0.0.4\n"}, corefile)
    )
    assert duplicate.evidence["default_block_from"] == "corefile"


def test_nested_snippets_in_a_server_key_are_expanded_for_the_plugin_check() -> None:
    # Hand-made: a *.server key whose block imports a snippet that imports another.
    text = (
        "(inner) {\n  fanout . 10.0.0.4\n}\n"
        "(outer) {\n  import inner\n}\n"
        "example.org {\n  import outer\n}\n"
    )
    (finding,) = findings(DNS_005, custom({"example.server": text}))
    assert finding.evidence["plugins"] == "fanout"


def test_an_import_cycle_is_a_parse_error() -> None:
    text = "(a) {\n  import b\n}\n(b) {\n  import a\n}\nexample.org {\n  import a\n}\n"
    result = outcome(DNS_005, custom({"cycle.server": text}))
    assert result.outcome is Outcome.NOT_ASSESSED
    assert "cycle.server" in result.reason and "import cycle" in result.reason


# -- DNS-001 --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", PUBLISHED_CUSTOM)
def test_published_keys_all_end_in_server_or_override(name: str) -> None:
    assert findings(DNS_001, facts(report_of(custom_map(name)))) == []


def test_each_ignored_key_is_one_finding() -> None:
    result = findings(
        DNS_001, custom({"custom.conf": "log\n", "Corefile": ". {}\n", "ok.override": "log\n"})
    )
    assert sorted(f.evidence["key"] for f in result) == ["Corefile", "custom.conf"]
    assert all(f.severity == audit_pb2.SEVERITY_MEDIUM for f in result)


# -- DNS-002 (moved from tests/unit/test_rules_coredns.py) ----------------------------------


@pytest.mark.parametrize("corefile", ["", AKS_COREFILE], ids=["aks-default", "reported-corefile"])
def test_forward_in_an_override_fires(corefile: str) -> None:
    (finding,) = findings(
        DNS_002, custom({"upstream.override": "forward . 168.63.129.16\n"}, corefile)
    )
    assert finding.severity == audit_pb2.SEVERITY_CRITICAL
    assert finding.evidence["forward.line"] == "1"
    assert finding.evidence["server_block"] == ".:53"
    assert finding.evidence["default_block_from"] == ("corefile" if corefile else "aks-default")


@pytest.mark.parametrize("name", PUBLISHED_CUSTOM)
def test_published_custom_config_maps_have_no_duplicate(name: str) -> None:
    assert findings(DNS_002, facts(report_of(custom_map(name)))) == []


def test_rewrite_override_fragment_is_fine() -> None:
    fragment = (COREDNS / "coredns_rewrite_answer-name.override").read_text()
    assert findings(DNS_002, custom({"rewrite.override": fragment}, corefile="")) == []


def test_prometheus_fires_and_several_plugins_make_one_finding() -> None:
    (finding,) = findings(
        DNS_002, custom({"metrics.override": "log\nprometheus :9154\ncache 60\n"})
    )
    assert finding.evidence["plugins"] == "cache,prometheus"
    assert (finding.evidence["prometheus.line"], finding.evidence["cache.line"]) == ("2", "3")


def test_other_single_instance_plugins_fire_only_when_the_block_has_them() -> None:
    without_cache = AKS_COREFILE.replace("    cache 30\n", "")
    assert findings(DNS_002, custom({"cache.override": "cache 60\n"}, without_cache)) == []
    assert len(findings(DNS_002, custom({"cache.override": "cache 60\n"}))) == 1


def upstream_corefile() -> str:
    (document,) = k8s_documents("coredns/k8sdocs_coredns-configmap_default.yaml")
    return str(document["data"]["Corefile"])


def test_overrides_nobody_imports_are_not_spliced_anywhere() -> None:
    fragments = {"upstream.override": "forward . 10.0.0.4\n", "log.override": "log\n"}
    assert findings(DNS_002, custom(fragments, upstream_corefile())) == []
    assert findings(DNS_006, custom(fragments, upstream_corefile())) == []


def test_keys_that_are_not_overrides_are_left_to_other_rules() -> None:
    assert findings(DNS_002, custom({"upstream.conf": "forward . 10.0.0.4\n"})) == []


# -- DNS-003 --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", PUBLISHED_CUSTOM)
def test_published_server_blocks_do_not_clash(name: str) -> None:
    assert findings(DNS_003, facts(report_of(custom_map(name)))) == []


@pytest.mark.parametrize("key", [".", ".:53", "dns://.:53", "dns://.", ". "])
def test_every_spelling_of_the_root_zone_clashes(key: str) -> None:
    (finding,) = findings(DNS_003, custom({"root.server": f"{key} {{\n  forward . 10.0.0.4\n}}\n"}))
    assert finding.evidence["root_zone"] == "true"
    assert "it is already defined" in finding.message


def test_a_zone_served_by_two_keys_clashes_on_the_later_key() -> None:
    stub = custom_map("aks_coredns-custom_stub-domains.yaml")
    domain = custom_map("aks_coredns-custom_custom-domain.yaml", rename("puglife.local", "abc.com"))
    (finding,) = findings(DNS_003, custom({**stub["data"], **domain["data"]}))
    assert finding.resource == "kube-system/coredns-custom/test.server"  # after puglife.server
    assert finding.evidence["conflicts_with"] == "puglife.server"
    assert finding.evidence["root_zone"] == "false"


@pytest.mark.parametrize(
    ("first", "second", "clash"),
    [
        ("example.org", "example.org:53", True),
        ("example.org", "EXAMPLE.ORG.", True),
        ("example.org", "example.org:5353", False),
        ("example.org", "tls://example.org", False),
        ("example.org", "sub.example.org", False),
    ],
)
def test_zone_and_port_decide_a_clash(first: str, second: str, clash: bool) -> None:
    text = f"{first} {{\n  whoami\n}}\n{second} {{\n  whoami\n}}\n"
    assert len(findings(DNS_003, custom({"two.server": text}))) == int(clash)


@pytest.mark.parametrize(
    ("first_bind", "second_bind", "clash"),
    [
        ("10.0.0.1", "10.0.0.2", False),
        ("10.0.0.1", "10.0.0.1", True),
        ("", "10.0.0.1", True),  # an unbound block overlaps every bound one
        ("10.0.0.1", "", True),
    ],
)
def test_bind_addresses_separate_listeners(first_bind: str, second_bind: str, clash: bool) -> None:
    def block(bind: str) -> str:
        return "example.org {\n" + (f"  bind {bind}\n" if bind else "") + "  whoami\n}\n"

    text = block(first_bind) + block(second_bind)
    assert len(findings(DNS_003, custom({"two.server": text}))) == int(clash)


def test_a_view_block_after_the_root_still_clashes_but_one_before_does_not_register() -> None:
    view_block = (
        "example.org {\n  view internal {\n    expr incidr(client_ip(), '10.0.0.0/8')\n  }\n"
        "  whoami\n}\n"
    )
    plain_block = "example.org {\n  whoami\n}\n"
    assert findings(DNS_003, custom({"v.server": view_block + plain_block})) == []
    assert len(findings(DNS_003, custom({"v.server": plain_block + view_block}))) == 1


def test_server_keys_the_main_corefile_does_not_import_are_not_loaded() -> None:
    assert (
        findings(DNS_003, custom({"root.server": ". {\n  whoami\n}\n"}, upstream_corefile())) == []
    )


# -- DNS-004 --------------------------------------------------------------------------------


def test_reload_findings_stand_when_another_pods_log_is_unreadable() -> None:
    report = report_of(
        logs={"coredns-a": RELOAD_FAILED_LOG},
        gaps=[("pods/log kube-system/coredns-b", "timeout")],
    )
    result = outcome(DNS_004, facts(report))
    assert result.outcome is Outcome.FINDINGS
    assert result.findings[0].severity == audit_pb2.SEVERITY_HIGH


def test_pods_not_listed_is_not_assessed() -> None:
    result = outcome(DNS_004, facts(report_of(gaps=[("pods/v1", "forbidden")])))
    assert result.outcome is Outcome.NOT_ASSESSED


# -- DNS-005 --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", PUBLISHED_CUSTOM)
def test_published_custom_config_maps_use_built_in_plugins(name: str) -> None:
    assert findings(DNS_005, facts(report_of(custom_map(name)))) == []


def test_unknown_override_plugin_names_its_lines() -> None:
    (finding,) = findings(
        DNS_005, custom({"x.override": "log\nforwrd . 10.0.0.4\nalternate SERVFAIL . 8.8.8.8\n"})
    )
    assert finding.evidence["plugins"] == "forwrd,alternate"
    assert finding.evidence["lines"] == "2,3"


def test_plugin_options_inside_a_block_are_not_plugins() -> None:
    text = (
        "example.org {\n  forward . 10.0.0.4 {\n    policy sequential\n    health_check 5s\n"
        "  }\n}\n"
    )
    assert findings(DNS_005, custom({"x.server": text})) == []


# -- DNS-006 --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "fires"),
    [
        ("log", True),
        ("log .", True),
        ('log . "{proto} Request: {name} {type} {>id}"', True),
        ("log . {combined}", True),
        ("log example.org", False),
        ("log . {\n  class denial error\n}", False),
        ("log . {\n  class denial success\n}", True),
        ("log . {\n  class all\n}", True),
        ("errors", False),
    ],
)
def test_query_logging_means_every_name_and_successful_answers(line: str, fires: bool) -> None:
    assert len(findings(DNS_006, custom({"log.override": line + "\n"}))) == int(fires)


def test_log_in_a_server_block_for_another_zone_is_not_query_logging_of_the_cluster() -> None:
    fixture = custom_map("aks_coredns-custom_rewrite.yaml")  # its block has log, zone not root
    assert findings(DNS_006, facts(report_of(fixture))) == []


# -- DNS-007 --------------------------------------------------------------------------------


def test_min_replicas_is_tunable() -> None:
    available_two = facts(report_of(deployments=[coredns_deployment(available=2)]))
    (finding,) = outcome(
        DNS_007, available_two, with_threshold("DNS-007", "min_replicas", 3)
    ).findings
    assert finding.evidence["min_replicas"] == "3"
    assert finding.severity == audit_pb2.SEVERITY_HIGH


def test_only_the_kube_system_coredns_deployment_counts() -> None:
    autoscaler = coredns_deployment(available=2)
    autoscaler["metadata"]["name"] = "coredns-autoscaler"
    result = outcome(DNS_007, facts(report_of(deployments=[autoscaler])))
    assert result.outcome is Outcome.NOT_ASSESSED


# -- DNS-008 --------------------------------------------------------------------------------


def autoscaler_findings(data: Mapping[str, str]) -> list[audit_pb2.Finding]:
    return findings(DNS_008, facts(report_of(autoscaler=data)))


@pytest.mark.parametrize(
    ("data", "floor"),
    [
        ({"linear": '{"coresPerReplica":256,"nodesPerReplica":16}'}, "1"),  # min defaults to 1
        ({"linear": '{"coresPerReplica":256,"nodesPerReplica":16,"min":0}'}, "1"),
        ({"linear": '{"nodesPerReplica":16,"min":1,"preventSinglePointFailure":false}'}, "1"),
        ({"ladder": '{"nodesToReplicas":[[1,1],[8,3]]}'}, "1"),
        ({"ladder": "{}"}, "1"),  # no steps: one replica
        ({"ladder": "null"}, "1"),
    ],
)
def test_configs_that_allow_one_replica(data: Mapping[str, str], floor: str) -> None:
    (finding,) = autoscaler_findings(data)
    assert finding.evidence["min_replicas_possible"] == floor
    assert finding.severity == audit_pb2.SEVERITY_MEDIUM


@pytest.mark.parametrize(
    "data",
    [
        {"linear": '{"coresPerReplica":256,"nodesPerReplica":16,"min":2}'},
        {"linear": '{"coresPerReplica":256,"nodesPerReplica":16,"preventSinglePointFailure":true}'},
        # the autoscaler takes the larger of the two ladders' answers
        {"ladder": '{"coresToReplicas":[[1,1]],"nodesToReplicas":[[1,2],[8,3]]}'},
        {},
    ],
)
def test_configs_that_keep_two_replicas(data: Mapping[str, str]) -> None:
    assert autoscaler_findings(data) == []


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"ladder": AKS_LADDER, "linear": '{"min":2}'}, "expected one key"),
        ({"Ladder": AKS_LADDER}, "not a control mode"),
        ({"linear": "[1, 2]"}, "not a JSON object"),
        ({"linear": '{"min":2}'}, "neither coresPerReplica nor nodesPerReplica"),
        ({"linear": '{"nodesPerReplica":16,"min":3,"max":2}'}, "max 2 is below min 3"),
        ({"linear": '{"nodesPerReplica":-1}'}, "must not be negative"),
        ({"linear": '{"nodesPerReplica":"16"}'}, "not an integer"),
        ({"ladder": '{"nodesToReplicas":[[0,2]]}'}, "below 1"),
        ({"ladder": '{"nodesToReplicas":[[1]]}'}, "not [threshold, replicas]"),
        ({"ladder": '{"nodesToReplicas":[[1,2.5]]}'}, "not two integers"),
    ],
)
def test_configs_the_autoscaler_refuses(data: Mapping[str, str], error: str) -> None:
    (finding,) = autoscaler_findings(data)
    assert error in finding.evidence["error"]


def test_autoscaler_minimum_is_tunable() -> None:
    aks = facts(report_of(autoscaler={"ladder": AKS_LADDER}))
    (finding,) = outcome(DNS_008, aks, with_threshold("DNS-008", "min_replicas", 3)).findings
    assert finding.evidence["min_replicas_possible"] == "2"


# -- DNS-010 --------------------------------------------------------------------------------


def test_node_local_dns_is_found_by_its_label_too() -> None:
    facts_ = localdns_facts()
    workload = facts_.report.cni.workloads[0]
    workload.name = "nodelocaldns"
    (finding,) = outcome(DNS_010, facts_).findings
    assert finding.resource == "DaemonSet kube-system/nodelocaldns"


def test_daemonsets_unreadable_is_not_assessed() -> None:
    facts_ = localdns_facts(nodelocal=False)
    facts_.report.gaps.add(gatherer="cni", resource="daemonsets.apps/v1", reason="forbidden")
    assert outcome(DNS_010, facts_).outcome is Outcome.NOT_ASSESSED


# -- DNS-011 --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "fires"),
    [
        ("reddog.microsoft.com:53", True),
        ("internal.cloudapp.net", True),
        ("abc.internal.cloudapp.net:53", True),
        ("internal.cloudapp.net:5353", False),
        ("cloudapp.net:53", False),
        ("notinternal.cloudapp.net:53", False),
    ],
)
def test_search_domain_zones(key: str, fires: bool) -> None:
    text = f"{key} {{\n  forward . /etc/resolv.conf\n}}\n"
    result = findings(DNS_011, custom({"search.server": text}))
    assert len(result) == int(fires)
    assert all(f.severity == audit_pb2.SEVERITY_INFO for f in result)


# -- DNS-009 --------------------------------------------------------------------------------
# No CoreDNS exposition is published in the fixtures: the cases start from the sample
# fleet's hand-made ones (sandbox/fleet_data/MANIFEST.md; CoreDNS 1.9.4 and 1.11.3 series
# names and help texts), altered where a case needs it, and go through the agent's converter.

SAMPLE_PROXY = REPO / "sandbox" / "fleet_data" / "kube" / "{cluster}" / "proxy" / "kube-system"
OVERLAY_PODS = ("coredns-jfbrr8zs5q-jqhlj", "coredns-jfbrr8zs5q-d5vr8")
KUBENET_POD = "coredns-fdflqpv9b6-qdrw7"


def sample_exposition(pod: str, cluster: str = "aks-overlay-priv-weu") -> str:
    path = Path(str(SAMPLE_PROXY).format(cluster=cluster)) / pod / "9153" / "metrics.txt"
    return path.read_text()


def coredns_pod(name: str) -> Document:
    """A running CoreDNS pod as the sample fleet has it (hand-made)."""
    return {
        "metadata": {"name": name, "namespace": "kube-system"},
        "spec": {"nodeName": "aks-nodepool1-40915282-vmss000000"},
        "status": {
            "phase": "Running",
            "containerStatuses": [
                {"name": "coredns", "state": {"running": {"startedAt": "2026-11-20T06:12:31Z"}}}
            ],
        },
    }


def metrics_report(
    texts: Mapping[str, str], gaps: Iterable[tuple[str, str]] = ()
) -> report_pb2.Report:
    report = report_of(deployments=[coredns_deployment(available=2)], gaps=gaps)
    for pod, text in texts.items():
        report.coredns.metrics.append(coredns_metrics.pod_metrics(text, coredns_pod(pod), NOW))
    return report


def overlay_texts(**edits: Callable[[str], str]) -> dict[str, str]:
    """Both sample overlay pods' expositions, the named pods' edited."""
    return {
        pod: edits.get(pod.replace("-", "_"), lambda text: text)(sample_exposition(pod))
        for pod in OVERLAY_PODS
    }


def servfail(count: int) -> Callable[[str], str]:
    return lambda text: re.sub(r'(rcode="SERVFAIL"[^}]*\}) \d+', rf"\g<1> {count}", text)


def with_series(name: str, samples: str) -> Callable[[str], str]:
    return lambda text: text + f"# TYPE {name} counter\n{samples}\n"


def slow(text: str) -> str:
    """Every request-duration bucket below 256 ms holds 10% fewer requests: p99 > 128 ms."""

    def scaled(match: re.Match[str]) -> str:
        bound, count = float(match[2]), int(match[3])
        return f'{match[1]}{match[2]}"}} {round(count * 0.9) if bound < 0.256 else count}'

    return re.sub(r'(request_duration_seconds_bucket\{[^}]*le=")([0-9.e-]+)"\} (\d+)', scaled, text)


def pre_1_7(text: str) -> str:
    """The series names CoreDNS used before 1.7.0."""
    text = text.replace("coredns_dns_requests_total", "coredns_dns_request_count_total")
    return text.replace("coredns_dns_responses_total", "coredns_dns_response_rcode_count_total")


def dns009_facts(
    texts: Mapping[str, str], gaps: Iterable[tuple[str, str]] = ()
) -> Callable[[], audit_pb2.ClusterFacts]:
    return lambda: facts(metrics_report(texts, gaps))


UPSTREAM_FAILURES = with_series(
    "coredns_forward_healthcheck_failures_total",
    'coredns_forward_healthcheck_failures_total{to="10.100.0.4:53"} 12',
)
PROXY_FAILURES = with_series(
    "coredns_proxy_healthcheck_failures_total",
    'coredns_proxy_healthcheck_failures_total{proxy_name="forward",to="168.63.129.16:53"} 3',
)
PROXY_GAP = ("pods/proxy kube-system/coredns-jfbrr8zs5q-d5vr8:9153", "forbidden")

DNS_009_CASES = [
    RuleCase("DNS-009", "sample-overlay-pods-healthy", dns009_facts(overlay_texts()),
             Outcome.PASSED),
    RuleCase("DNS-009", "servfail-above-1-percent",
             dns009_facts(overlay_texts(coredns_jfbrr8zs5q_d5vr8=servfail(400_000))),
             Outcome.FINDINGS,
             check=both(resource("Deployment kube-system/coredns"),
                        evidence(servfail="401406", window="since pod start",
                                 counting_since="2026-11-20T06:12:31.870Z",
                                 healthcheck_failures="0"))),
    RuleCase("DNS-009", "forward-healthcheck-failures",
             dns009_facts(overlay_texts(coredns_jfbrr8zs5q_jqhlj=UPSTREAM_FAILURES)),
             Outcome.FINDINGS, check=evidence(healthcheck_failures="12")),
    RuleCase("DNS-009", "proxy-healthcheck-failures-coredns-1-11",
             dns009_facts({KUBENET_POD: PROXY_FAILURES(sample_exposition(KUBENET_POD,
                                                                         "aks-kubenet-weu"))}),
             Outcome.FINDINGS, check=evidence(healthcheck_failures="3")),
    RuleCase("DNS-009", "p99-above-100-ms",
             dns009_facts(overlay_texts(coredns_jfbrr8zs5q_jqhlj=slow,
                                        coredns_jfbrr8zs5q_d5vr8=slow)),
             Outcome.FINDINGS, check=evidence(servfail_ratio="0.00031", healthcheck_failures="0")),
    RuleCase("DNS-009", "p99-above-a-configured-20-ms", dns009_facts(overlay_texts()),
             Outcome.FINDINGS, settings={"DNS-009": {"p99_seconds": 0.02}},
             check=evidence(p99_seconds="0.0259")),
    RuleCase("DNS-009", "pre-1-7-series-names",
             dns009_facts(overlay_texts(
                 coredns_jfbrr8zs5q_jqhlj=lambda t: pre_1_7(servfail(900_000)(t)),
                 coredns_jfbrr8zs5q_d5vr8=pre_1_7)),
             Outcome.FINDINGS, check=evidence(servfail="901515")),
    RuleCase("DNS-009", "one-pod-unreadable-other-healthy",
             dns009_facts({OVERLAY_PODS[0]: sample_exposition(OVERLAY_PODS[0])}, [PROXY_GAP]),
             Outcome.NOT_ASSESSED, check=reason_mentions("pods/proxy", "forbidden")),
    RuleCase("DNS-009", "one-pod-unreadable-other-failing",
             dns009_facts({OVERLAY_PODS[0]: UPSTREAM_FAILURES(sample_exposition(OVERLAY_PODS[0]))},
                          [PROXY_GAP]),
             Outcome.FINDINGS, check=evidence(pods=OVERLAY_PODS[0])),
    RuleCase("DNS-009", "no-pod-scraped", dns009_facts({}), Outcome.NOT_ASSESSED,
             check=reason_mentions("no CoreDNS metrics")),
    RuleCase("DNS-009", "pods-unreadable", dns009_facts({}, [("pods/v1", "forbidden")]),
             Outcome.NOT_ASSESSED, check=reason_mentions("pods/v1", "forbidden")),
]  # fmt: skip


def test_dns009_message_says_the_counters_cover_the_pods_lifetime() -> None:
    facts_ = facts(metrics_report(overlay_texts(coredns_jfbrr8zs5q_jqhlj=UPSTREAM_FAILURES)))
    (finding,) = outcome(DNS_009, facts_).findings
    assert "since they started" in finding.message and "not over a recent window" in finding.message
    assert "10.100.0.4:53 12" in finding.message
    assert finding.severity == audit_pb2.SEVERITY_HIGH


def test_dns009_healthcheck_threshold_tolerates_a_few_failures() -> None:
    facts_ = facts(metrics_report(overlay_texts(coredns_jfbrr8zs5q_jqhlj=UPSTREAM_FAILURES)))
    settings = with_threshold("DNS-009", "healthcheck_failures", 12)
    assert outcome(DNS_009, facts_, settings).outcome is Outcome.PASSED


def test_dns009_servfail_ratio_is_over_all_pods() -> None:
    # 40,000 SERVFAIL on one pod is 0.4% of the two pods' 9.4 million requests: below 1%.
    facts_ = facts(metrics_report(overlay_texts(coredns_jfbrr8zs5q_d5vr8=servfail(40_000))))
    assert outcome(DNS_009, facts_).outcome is Outcome.PASSED


# Rebound, not extended: test_case above runs the earlier cases with default settings.
CASES = CASES + DNS_009_CASES
