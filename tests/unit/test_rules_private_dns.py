"""PDN-001: private cluster with privateDNSZone none and the public FQDN disabled."""

from __future__ import annotations

import json
from typing import Any

import pytest

from netaudit.collector.inventory import convert
from netaudit.collector.rules import RuleSettings
from netaudit.collector.rules.private_dns import PDN_001
from netaudit.v1 import audit_pb2
from tests.conftest import SHARED_FIXTURES

CLUSTERS = SHARED_FIXTURES / "arm" / "managedclusters"
ZONE_NONE = "azcli-recording_ManagedClusterGet_private-dns-zone-none.json"


def body(name: str) -> Any:
    data = json.loads((CLUSTERS / name).read_text())
    return data["responses"]["200"]["body"] if "responses" in data else data


def facts(payload: Any) -> audit_pb2.ClusterFacts:
    inventory = convert.cluster_inventory(payload)
    return audit_pb2.ClusterFacts(
        cluster_key=inventory.arm_resource_id.lower(), inventory=inventory
    )


@pytest.mark.parametrize(
    "name",
    sorted(
        p.name
        for p in CLUSTERS.glob("*.json")
        if "networkProfile" in json.dumps(body(p.name)) and "agentPools" not in p.name
    ),
)
def test_no_published_cluster_has_the_unsupported_combination(name: str) -> None:
    assert PDN_001.evaluate(facts(body(name)), RuleSettings()) == []


def test_zone_none_with_public_fqdn_disabled_fires() -> None:
    payload = body(ZONE_NONE)
    payload["properties"]["apiServerAccessProfile"]["enablePrivateClusterPublicFQDN"] = False
    (finding,) = PDN_001.evaluate(facts(payload), RuleSettings())
    assert finding.severity == audit_pb2.SEVERITY_CRITICAL
    assert finding.resource == payload["id"].lower()
    assert dict(finding.evidence) == {
        "enable_private_cluster": "true",
        "private_dns_zone": "none",
        "enable_private_cluster_public_fqdn": "false",
        "private_fqdn": payload["properties"]["privateFQDN"],
    }


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"enablePrivateClusterPublicFQDN": True}, "public FQDN on (as recorded)"),
        ({"enablePrivateClusterPublicFQDN": None}, "public FQDN flag unset"),
        (
            {"enablePrivateCluster": False, "enablePrivateClusterPublicFQDN": False},
            "public cluster",
        ),
        ({"privateDNSZone": "system", "enablePrivateClusterPublicFQDN": False}, "system zone"),
    ],
)
def test_quiet_otherwise(change: dict[str, Any], why: str) -> None:
    payload = body(ZONE_NONE)
    payload["properties"]["apiServerAccessProfile"].update(change)
    assert PDN_001.evaluate(facts(payload), RuleSettings()) == [], why


def test_zone_none_compares_case_insensitively() -> None:
    payload = body(ZONE_NONE)
    payload["properties"]["apiServerAccessProfile"].update(
        privateDNSZone="None", enablePrivateClusterPublicFQDN=False
    )
    assert len(PDN_001.evaluate(facts(payload), RuleSettings())) == 1


def test_nothing_without_inventory() -> None:
    assert PDN_001.evaluate(audit_pb2.ClusterFacts(cluster_key="c"), RuleSettings()) == []
