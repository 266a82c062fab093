"""NSG evaluation: a flow through one direction's rules, by priority, as Azure applies them.

Rules are the published NetworkSecurityGroupGet rules (its rule1 and six defaults) with
hand-made variants where a case needs another access, prefix, protocol or port.
"""

from __future__ import annotations

from typing import Any

import pytest

from netaudit.collector.analysis.security_rules import (
    ALL_ADDRESSES,
    Flow,
    UnreadableRule,
    address_ranges,
    evaluate,
    network_ranges,
    port_ranges,
    protocol_ranges,
    rules_by_priority,
)
from netaudit.collector.inventory import convert
from netaudit.v1 import inventory_pb2
from tests.rule_cases import arm_json

NSG = "network/NetworkSecurityGroupGet.json"
NODES = network_ranges(["10.0.1.0/24"])
PODS = network_ranges(["100.64.0.0/10"])
POD_TO_POD = Flow("pod-to-pod", PODS, PODS)


def published_nsg(*extra: inventory_pb2.SecurityRule) -> inventory_pb2.NetworkSecurityGroup:
    nsg = convert.network_security_group(arm_json(NSG))
    nsg.security_rules.extend(extra)
    return nsg


def rule(name: str, priority: int, access: str, **changes: Any) -> inventory_pb2.SecurityRule:
    """rule1 of the published NSG (Allow * from * to * port 80, inbound) with changes."""
    body: dict[str, Any] = arm_json(NSG)["properties"]["securityRules"][0]
    body["name"] = name
    body["properties"].update(priority=priority, access=access, destinationPortRange="*")
    body["properties"].update(changes)
    return convert.security_rule(body)


def inbound(*extra: inventory_pb2.SecurityRule) -> list[inventory_pb2.SecurityRule]:
    return rules_by_priority(published_nsg(*extra), "Inbound")


def denied_by(flow: Flow, *extra: inventory_pb2.SecurityRule) -> list[str]:
    return [r.name for r in evaluate(flow, inbound(*extra), "Inbound").denials]


def test_rules_of_one_direction_come_by_priority() -> None:
    names = [r.name for r in inbound(rule("deny", 4000, "Deny"))]
    assert names == [
        "rule1",
        "deny",
        "AllowVnetInBound",
        "AllowAzureLoadBalancerInBound",
        "DenyAllInBound",
    ]


def test_the_default_rules_let_pod_traffic_through() -> None:
    assert denied_by(POD_TO_POD) == []


def test_a_deny_all_before_the_default_allow_denies() -> None:
    assert denied_by(POD_TO_POD, rule("deny", 4000, "Deny")) == ["deny"]


def test_an_allow_before_the_deny_shadows_it() -> None:
    allow = rule("allow", 100, "Allow", sourceAddressPrefix="100.64.0.0/10")
    assert denied_by(POD_TO_POD, allow, rule("deny", 4000, "Deny")) == []


def test_allows_that_only_together_cover_the_deny_shadow_it() -> None:
    low = rule("low-ports", 100, "Allow", destinationPortRange="0-32767")
    high = rule("high-ports", 110, "Allow", destinationPortRange="32768-65535")
    assert denied_by(POD_TO_POD, low, high, rule("deny", 4000, "Deny")) == []
    assert denied_by(POD_TO_POD, low, rule("deny", 4000, "Deny")) == ["deny"]


def test_an_allow_for_half_the_pod_cidr_leaves_the_other_half_to_the_deny() -> None:
    half = rule("half", 100, "Allow", sourceAddressPrefix="100.64.0.0/11")
    assert denied_by(POD_TO_POD, half, rule("deny", 4000, "Deny")) == ["deny"]


def test_the_published_allow_of_port_80_does_not_cover_a_deny_all() -> None:
    # rule1 as published: Allow * port 80 at priority 130
    published = convert.network_security_group(arm_json(NSG))
    deny = rule("deny", 4000, "Deny")
    published.security_rules.append(deny)
    verdict = evaluate(POD_TO_POD, rules_by_priority(published, "Inbound"), "Inbound")
    assert [r.name for r in verdict.denials] == ["deny"]


@pytest.mark.parametrize(
    ("source", "denies"),
    [
        ("*", True),
        ("Any", True),
        ("VirtualNetwork", True),
        ("0.0.0.0/0", True),
        ("100.64.0.0/16", True),
        ("100.64.0.5", True),
        ("Internet", False),
        ("AzureLoadBalancer", False),
        ("Storage.WestEurope", False),
        ("::/0", False),
        ("10.245.0.0/16", False),
    ],
)
def test_how_each_source_prefix_matches_pod_traffic(source: str, denies: bool) -> None:
    deny = rule("deny", 200, "Deny", sourceAddressPrefix=source)
    assert bool(denied_by(POD_TO_POD, deny)) is denies


def test_an_ipv6_pod_cidr_is_not_matched_by_ipv4_rules() -> None:
    v6 = Flow("pod-to-pod", network_ranges(["fd00:10::/64"]), network_ranges(["fd00:10::/64"]))
    assert denied_by(v6, rule("deny-v4", 200, "Deny", sourceAddressPrefix="0.0.0.0/0")) == []
    assert denied_by(v6, rule("deny-v6", 200, "Deny", sourceAddressPrefix="::/0")) == ["deny-v6"]


def test_a_rule_with_application_security_groups_stops_the_walk() -> None:
    body: dict[str, Any] = arm_json(NSG)["properties"]["securityRules"][0]
    body["properties"].update(priority=200, access="Deny", destinationPortRange="*")
    del body["properties"]["sourceAddressPrefix"]
    body["properties"]["sourceApplicationSecurityGroups"] = [{"id": "/x/asg"}]
    asg = convert.security_rule(body)
    verdict = evaluate(POD_TO_POD, inbound(asg, rule("deny", 4000, "Deny")), "Inbound")
    assert verdict.undecidable == asg
    assert verdict.denials == ()


def test_values() -> None:
    assert port_ranges(["80", "1000-2000", "90"]) == ((80, 80), (90, 90), (1000, 2000))
    assert port_ranges([]) == ((0, 65535),)
    assert protocol_ranges("Tcp") == ((6, 6),)
    assert address_ranges([]) == ALL_ADDRESSES
    assert network_ranges(["10.0.0.0/24", "10.0.1.0/24"]) == ((167772160, 167772671),)


@pytest.mark.parametrize("ports", [["80-"], ["x"], ["70000"], ["90-80"]])
def test_unreadable_ports_are_refused(ports: list[str]) -> None:
    with pytest.raises(UnreadableRule):
        port_ranges(ports)


def test_unreadable_protocol_and_prefix_are_refused() -> None:
    with pytest.raises(UnreadableRule):
        protocol_ranges("Gre")
    with pytest.raises(UnreadableRule):
        address_ranges(["10.0.0.0/33"])
