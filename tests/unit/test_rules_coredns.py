"""DNS-002: a single-instance plugin added through a coredns-custom *.override key."""

from __future__ import annotations

import pytest
import yaml

from netaudit.collector.rules import RuleSettings
from netaudit.collector.rules.coredns import DNS_002
from netaudit.v1 import audit_pb2, report_pb2
from tests.conftest import SHARED_FIXTURES
from tests.handmade import AKS_COREFILE

COREDNS = SHARED_FIXTURES / "k8s" / "coredns"


def custom_data(name: str) -> dict[str, str]:
    return {k: str(v) for k, v in yaml.safe_load((COREDNS / name).read_text())["data"].items()}


def facts(fragments: dict[str, str], corefile: str = "") -> audit_pb2.ClusterFacts:
    report = report_pb2.Report()
    report.coredns.corefile = corefile
    report.coredns.custom_present = bool(fragments)
    report.coredns.custom.extend(
        report_pb2.CorefileFragment(key=k, content=v) for k, v in fragments.items()
    )
    return audit_pb2.ClusterFacts(cluster_key="c1", report=report)


@pytest.mark.parametrize("corefile", ["", AKS_COREFILE], ids=["aks-default", "reported-corefile"])
def test_forward_in_an_override_fires(corefile: str) -> None:
    (finding,) = DNS_002.evaluate(
        facts({"upstream.override": "forward . 168.63.129.16\n"}, corefile), RuleSettings()
    )
    assert finding.severity == audit_pb2.SEVERITY_CRITICAL
    assert finding.resource == "kube-system/coredns-custom/upstream.override"
    assert finding.evidence["plugins"] == "forward"
    assert finding.evidence["forward.args"] == ". 168.63.129.16"
    assert finding.evidence["forward.line"] == "1"
    assert finding.evidence["server_block"] == ".:53"
    assert finding.evidence["default_block_from"] == ("corefile" if corefile else "aks-default")


@pytest.mark.parametrize(
    "name",
    ["aks_coredns-custom_hosts-override.yaml", "aks_coredns-custom_log-override.yaml"],
)
def test_published_overrides_are_fine(name: str) -> None:
    assert DNS_002.evaluate(facts(custom_data(name), AKS_COREFILE), RuleSettings()) == []


@pytest.mark.parametrize(
    "name",
    [
        "aks_coredns-custom_custom-domain.yaml",
        "aks_coredns-custom_forward.yaml",
        "aks_coredns-custom_rewrite.yaml",
        "aks_coredns-custom_stub-domains.yaml",
    ],
)
def test_forward_in_server_blocks_is_fine(name: str) -> None:
    assert DNS_002.evaluate(facts(custom_data(name), AKS_COREFILE), RuleSettings()) == []


def test_rewrite_override_fragment_is_fine() -> None:
    fragment = (COREDNS / "coredns_rewrite_answer-name.override").read_text()
    assert DNS_002.evaluate(facts({"rewrite.override": fragment}), RuleSettings()) == []


def test_prometheus_fires_and_several_plugins_make_one_finding() -> None:
    fragment = "log\nprometheus :9154\ncache 60\n"
    (finding,) = DNS_002.evaluate(
        facts({"metrics.override": fragment}, AKS_COREFILE), RuleSettings()
    )
    assert finding.evidence["plugins"] == "cache,prometheus"
    assert (finding.evidence["prometheus.line"], finding.evidence["cache.line"]) == ("2", "3")


def test_other_single_instance_plugins_fire_only_when_the_block_has_them() -> None:
    without_cache = AKS_COREFILE.replace("    cache 30\n", "")
    assert (
        DNS_002.evaluate(facts({"cache.override": "cache 60\n"}, without_cache), RuleSettings())
        == []
    )
    assert (
        len(DNS_002.evaluate(facts({"cache.override": "cache 60\n"}, AKS_COREFILE), RuleSettings()))
        == 1
    )


def test_overrides_nobody_imports_are_not_spliced_anywhere() -> None:
    upstream = (COREDNS / "k8sdocs_coredns-configmap_default.yaml").read_text()
    corefile = str(yaml.safe_load(upstream)["data"]["Corefile"])
    assert (
        DNS_002.evaluate(
            facts({"upstream.override": "forward . 10.0.0.4\n"}, corefile), RuleSettings()
        )
        == []
    )


def test_keys_that_are_not_overrides_are_left_to_other_rules() -> None:
    assert DNS_002.evaluate(facts({"upstream.conf": "forward . 10.0.0.4\n"}), RuleSettings()) == []


def test_unparsable_override_is_skipped() -> None:
    assert (
        DNS_002.evaluate(facts({"broken.override": "forward . 1.1.1.1 {\n"}), RuleSettings()) == []
    )


def test_nothing_without_a_report() -> None:
    assert DNS_002.evaluate(audit_pb2.ClusterFacts(cluster_key="c1"), RuleSettings()) == []
