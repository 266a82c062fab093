"""NetworkPolicy summaries: what NPL-006/NPL-007 read of each policy, from the objects.

The fixtures hold no NetworkPolicy: the objects here are hand-made after the examples of
the Kubernetes network policy docs (test-network-policy, default-deny-egress,
allow-all-egress) and the AKS LocalDNS guidance (egress to 169.254.10.0/24 on 53).
"""

from __future__ import annotations

from typing import Any

import pytest

from netaudit.agent.gatherers.network_policies import (
    PolicyDigest,
    effective_policy_types,
    local_dns_allowed,
    policies_per_namespace,
    policy_summary,
    port_text,
)

Doc = dict[str, Any]


def netpol(name: str, spec: Doc, namespace: str = "default") -> Doc:
    return {"metadata": {"name": name, "namespace": namespace}, "spec": spec}


TEST_NETWORK_POLICY = netpol(
    "test-network-policy",
    {
        "podSelector": {"matchLabels": {"role": "db"}},
        "policyTypes": ["Ingress", "Egress"],
        "ingress": [
            {
                "from": [
                    {"ipBlock": {"cidr": "172.17.0.0/16", "except": ["172.17.1.0/24"]}},
                    {"namespaceSelector": {"matchLabels": {"project": "myproject"}}},
                    {"podSelector": {"matchLabels": {"role": "frontend"}}},
                ],
                "ports": [{"protocol": "TCP", "port": 6379}],
            }
        ],
        "egress": [
            {
                "to": [{"ipBlock": {"cidr": "10.0.0.0/24"}}],
                "ports": [{"protocol": "TCP", "port": 5978}],
            }
        ],
    },
)
DEFAULT_DENY_EGRESS = netpol("default-deny-egress", {"podSelector": {}, "policyTypes": ["Egress"]})
ALLOW_ALL_EGRESS = netpol(
    "allow-all-egress", {"podSelector": {}, "egress": [{}], "policyTypes": ["Egress"]}
)
INGRESS_ONLY = netpol(
    "allow-same-namespace",
    {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{"from": [{"podSelector": {}}]}]},
)


def egress_rule(to: list[Doc] | None, ports: list[Doc] | None) -> Doc:
    rule: Doc = {}
    if to is not None:
        rule["to"] = to
    if ports is not None:
        rule["ports"] = ports
    return rule


def block(cidr: str, *excepts: str) -> Doc:
    return {"ipBlock": {"cidr": cidr, **({"except": list(excepts)} if excepts else {})}}


UDP53 = {"protocol": "UDP", "port": 53}
TCP53 = {"protocol": "TCP", "port": 53}


def to_local_dns(*ports: Doc) -> list[Doc]:
    """One egress rule to 169.254.10.0/24 on ``ports``."""
    return [egress_rule([block("169.254.10.0/24")], list(ports))]


def test_the_docs_example_keeps_its_ip_blocks_and_egress_ports() -> None:
    summary = policy_summary(TEST_NETWORK_POLICY)
    assert summary is not None
    assert summary.name == "test-network-policy"
    assert list(summary.policy_types) == ["Ingress", "Egress"]
    assert not summary.selects_all_pods
    ((cidr, excepts),) = [(b.cidr, list(b.excepts)) for b in summary.ingress_ip_blocks]
    assert (cidr, excepts) == ("172.17.0.0/16", ["172.17.1.0/24"])
    assert [b.cidr for b in summary.egress_ip_blocks] == ["10.0.0.0/24"]
    assert list(summary.egress_ports) == ["TCP/5978"]
    assert summary.egress_rules == 1
    assert not summary.egress_allows_local_dns_udp and not summary.egress_allows_local_dns_tcp


def test_default_deny_egress_has_no_rule_and_allows_nothing() -> None:
    summary = policy_summary(DEFAULT_DENY_EGRESS)
    assert summary is not None
    assert summary.selects_all_pods and list(summary.policy_types) == ["Egress"]
    assert summary.egress_rules == 0 and list(summary.egress_ports) == []
    assert (summary.egress_allows_local_dns_udp, summary.egress_allows_local_dns_tcp) == (
        False,
        False,
    )


def test_an_empty_egress_rule_allows_every_destination_and_port() -> None:
    summary = policy_summary(ALLOW_ALL_EGRESS)
    assert summary is not None
    assert list(summary.egress_ports) == ["*"]
    assert summary.egress_allows_local_dns_udp and summary.egress_allows_local_dns_tcp


def test_ingress_only_policies_without_ip_blocks_are_counted_not_summarised() -> None:
    assert policy_summary(INGRESS_ONLY) is None
    (entry,) = policies_per_namespace([], [INGRESS_ONLY, DEFAULT_DENY_EGRESS])
    assert entry.network_policies == 2
    assert [p.name for p in entry.policies] == ["default-deny-egress"]


@pytest.mark.parametrize(
    ("spec", "types"),
    [
        ({"podSelector": {}}, ["Ingress"]),
        ({"podSelector": {}, "egress": [{}]}, ["Ingress", "Egress"]),
        ({"podSelector": {}, "policyTypes": ["Egress"], "ingress": [{}]}, ["Egress"]),
    ],
)
def test_policy_types_default_as_the_api_server_defaults_them(spec: Doc, types: list[str]) -> None:
    assert effective_policy_types(spec) == types


@pytest.mark.parametrize(
    ("rules", "expected"),
    [
        ([egress_rule([block("169.254.10.0/24")], [UDP53, TCP53])], (True, True)),
        ([egress_rule([block("169.254.10.0/24")], [UDP53])], (True, False)),
        ([*to_local_dns(UDP53), egress_rule(None, [TCP53])], (True, True)),
        ([egress_rule([block("169.254.10.10/32")], [UDP53, TCP53])], (False, False)),
        ([egress_rule([block("0.0.0.0/0")], [UDP53, TCP53])], (True, True)),
        ([egress_rule([block("0.0.0.0/0", "169.254.0.0/16")], [UDP53, TCP53])], (False, False)),
        ([egress_rule([block("0.0.0.0/0", "169.254.169.254/32")], [UDP53, TCP53])], (True, True)),
        ([egress_rule([{"namespaceSelector": {}}], [UDP53, TCP53])], (False, False)),
        ([egress_rule([block("169.254.10.0/24")], None)], (True, True)),
        ([egress_rule([block("169.254.10.0/24")], [{"port": 53}])], (False, True)),
        ([egress_rule([block("169.254.10.0/24")], [{"protocol": "UDP"}])], (True, False)),
        (to_local_dns({"protocol": "UDP", "port": "dns"}), (False, False)),
        (to_local_dns({"protocol": "TCP", "port": 50, "endPort": 60}), (False, True)),
        ([egress_rule([block("fd00::/8")], [UDP53, TCP53])], (False, False)),
        ([], (False, False)),
    ],
    ids=[
        "localdns-udp-tcp", "udp-only", "tcp-from-another-rule", "one-listener-only",
        "everywhere", "link-local-excepted", "metadata-excepted", "selectors-only",
        "all-ports", "protocol-defaults-to-tcp", "all-udp-ports", "named-port", "port-range",
        "ipv6-block", "no-rules",
    ],
)  # fmt: skip
def test_local_dns_allowance_per_protocol(rules: list[Doc], expected: tuple[bool, bool]) -> None:
    assert local_dns_allowed(rules) == expected


@pytest.mark.parametrize(
    ("port", "text"),
    [
        ({"protocol": "UDP", "port": 53}, "UDP/53"),
        ({"port": 443}, "TCP/443"),
        ({"protocol": "TCP", "port": 8000, "endPort": 8080}, "TCP/8000-8080"),
        ({"protocol": "TCP", "port": "dns"}, "TCP/dns"),
        ({"protocol": "SCTP"}, "SCTP/*"),
    ],
)
def test_ports_are_spelled_protocol_slash_port(port: Doc, text: str) -> None:
    assert port_text(port) == text


def test_repeated_ip_blocks_and_ports_are_kept_once() -> None:
    rule = egress_rule([block("10.1.0.0/16"), block("10.1.0.0/16")], [TCP53, TCP53])
    summary = policy_summary(netpol("dup", {"podSelector": {}, "egress": [rule, rule]}))
    assert summary is not None
    assert [b.cidr for b in summary.egress_ip_blocks] == ["10.1.0.0/16"]
    assert list(summary.egress_ports) == ["TCP/53"]
    assert summary.egress_rules == 2


def test_every_namespace_is_listed_with_its_summaries_sorted() -> None:
    namespaces = [{"metadata": {"name": n}} for n in ("shop", "default", "empty")]
    policies = [
        netpol("z-egress", DEFAULT_DENY_EGRESS["spec"], "shop"),
        netpol("a-egress", ALLOW_ALL_EGRESS["spec"], "shop"),
        TEST_NETWORK_POLICY,
    ]
    entries = {e.namespace: e for e in policies_per_namespace(namespaces, policies)}
    assert list(entries) == ["default", "empty", "shop"]
    assert [p.name for p in entries["shop"].policies] == ["a-egress", "z-egress"]
    assert entries["empty"].network_policies == 0 and not entries["empty"].policies


def test_a_malformed_policy_is_counted_and_named_not_summarised() -> None:
    broken = netpol(
        "broken",
        {
            "podSelector": {},
            "egress": [egress_rule(None, [{"protocol": "UDP", "port": 50, "endPort": "x"}])],
        },
    )
    digest = PolicyDigest().fold([broken, DEFAULT_DENY_EGRESS])
    assert digest.counts["default"] == 2
    assert list(digest.malformed) == ["default/broken"]
    assert [s.name for s in digest.summaries["default"]] == ["default-deny-egress"]
