"""Rules on what ARM grants a cluster's identities and registers for it (CNI-012, PDN-004,
PDN-012), from recorded managed clusters and the published role assignment list
(RoleAssignments_ListForResource) and provider (GetProvider), altered where a case needs a
principal, a role or a state."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from netaudit.collector.inventory import convert
from netaudit.collector.inventory.references import role_assignments_listing as listing_id
from netaudit.collector.rules import Outcome
from netaudit.v1 import audit_pb2
from tests.rule_cases import (
    RuleCase,
    arm_json,
    evidence_has,
    facts_of,
    inventory_of,
    managed_cluster,
    reason_mentions,
)

Body = dict[str, Any]

NETWORK_CONTRIBUTOR = "4d97b98b-1d4f-4787-a291-c67834d212e7"
PRIVATE_DNS_ZONE_CONTRIBUTOR = "b12aa53e-6015-4669-85d0-8515ebb3ae7f"
CONTRIBUTOR = "b24988ac-6180-42a0-ab88-20f7382dd24c"
READER = "acdd72a7-3385-48ef-bd42-f606fba81ae7"
PUBLISHED_ROLE = "0b5fe924-9a61-425c-96af-cfe6e287ca2d"
"""The role of the published assignments: not a built-in role the rules know."""

BYO_CLUSTER = "azcli-recording_ManagedClusterGet_byo-subnet-ingress-appgw.json"
"""Recorded: system-assigned identity, kubelet and add-on identities, one BYO subnet."""
BYO = managed_cluster(BYO_CLUSTER)
BYO_PRINCIPAL = BYO["identity"]["principalId"]
BYO_KUBELET = BYO["properties"]["identityProfile"]["kubeletidentity"]["objectId"]
BYO_SUBNET = BYO["properties"]["agentPoolProfiles"][0]["vnetSubnetID"]
BYO_VNET = BYO_SUBNET.rsplit("/subnets/", 1)[0]
BYO_GROUP = BYO_SUBNET.split("/providers/", 1)[0]


def assignments(*grants: tuple[str, str, str]) -> list[Body]:
    """The published assignment list, one item per (principal, role GUID, scope) grant."""
    published = arm_json("authorization/RoleAssignments_ListForResource.json")["value"]
    items = []
    for index, (principal, role, scope) in enumerate(grants):
        item = dict(published[index % len(published)])
        item["properties"] = {
            **item["properties"],
            "principalId": principal,
            "principalType": "ServicePrincipal",
            "roleDefinitionId": f"/providers/Microsoft.Authorization/roleDefinitions/{role}",
            "scope": scope,
        }
        items.append(item)
    return items


def with_reads(
    cluster: Body, reads: dict[str, list[Body]], forbidden: tuple[str, ...] = ()
) -> Callable[[], audit_pb2.ClusterFacts]:
    """The cluster with what the role assignment lists returned at each scope, and a 403
    gap for each ``forbidden`` scope."""

    def build() -> audit_pb2.ClusterFacts:
        inventory = inventory_of(cluster)
        for scope, items in reads.items():
            inventory.role_assignment_scopes.append(convert.role_assignment_scope(scope, items))
        for scope in forbidden:
            inventory.gaps.add(
                resource_id=listing_id(scope),
                reason="forbidden",
                message="403 AuthorizationFailed: no Microsoft.Authorization/roleAssignments/read",
            )
        return facts_of(inventory)

    return build


CASES = [
    RuleCase(
        "CNI-012",
        "only-kubelet-identity-and-reader-on-subnet",
        with_reads(
            BYO,
            {
                BYO_SUBNET: assignments(
                    (BYO_KUBELET, NETWORK_CONTRIBUTOR, BYO_VNET),
                    (BYO_PRINCIPAL, READER, BYO_GROUP),
                )
            },
        ),
        Outcome.FINDINGS,
        check=evidence_has(principal_ids=BYO_PRINCIPAL, pools="nodepool1", assignments_read="2"),
    ),
    RuleCase(
        "CNI-012",
        "network-contributor-inherited-from-vnet",
        with_reads(BYO, {BYO_SUBNET: assignments((BYO_PRINCIPAL, NETWORK_CONTRIBUTOR, BYO_VNET))}),
        Outcome.PASSED,
    ),
    RuleCase(
        "CNI-012",
        "contributor-on-resource-group",
        with_reads(BYO, {BYO_SUBNET: assignments((BYO_PRINCIPAL, CONTRIBUTOR, BYO_GROUP))}),
        Outcome.PASSED,
    ),
    RuleCase(
        "CNI-012",
        "custom-role-only",
        with_reads(BYO, {BYO_SUBNET: assignments((BYO_PRINCIPAL, PUBLISHED_ROLE, BYO_SUBNET))}),
        Outcome.NOT_ASSESSED,
        check=reason_mentions("permissions are not read", PUBLISHED_ROLE),
    ),
    RuleCase(
        "CNI-012",
        "role-assignments-forbidden",
        with_reads(BYO, {}, forbidden=(BYO_SUBNET,)),
        Outcome.NOT_ASSESSED,
        check=reason_mentions("forbidden", "AuthorizationFailed"),
    ),
    RuleCase(
        "CNI-012",
        "role-assignments-not-read",
        with_reads(BYO, {}),
        Outcome.NOT_ASSESSED,
        check=reason_mentions("were not read"),
    ),
    RuleCase(
        "CNI-012",
        "service-principal-cluster",
        with_reads(
            {
                **managed_cluster("azcli-recording_ManagedClusterGet_azure-cni-windows-pool.json"),
                "properties": {
                    **managed_cluster(
                        "azcli-recording_ManagedClusterGet_azure-cni-windows-pool.json"
                    )["properties"],
                    "agentPoolProfiles": [
                        {"name": "nodepool1", "count": 3, "vnetSubnetID": BYO_SUBNET}
                    ],
                },
            },
            {},
        ),
        Outcome.NOT_ASSESSED,
        check=reason_mentions("service principal"),
    ),
    RuleCase(
        "CNI-012",
        "aks-managed-vnet",
        with_reads(managed_cluster("azcli-recording_ManagedClusterGet_cni-overlay.json"), {}),
        Outcome.PASSED,
    ),
]

# -- PDN-004 and PDN-012: the published private cluster with a custom zone -----------------

CUSTOM_ZONE_CLUSTER = "ManagedClustersCreate_PrivateClusterFQDNSubdomain.json"
USER_ASSIGNED = managed_cluster("ManagedClustersCreate_Update.json")["identity"]
"""The published user-assigned identity (principalId1)."""
UAMI = "principalId1"
ZONE = managed_cluster(CUSTOM_ZONE_CLUSTER)["properties"]["apiServerAccessProfile"][
    "privateDNSZone"
]
ZONE_GROUP = ZONE.split("/providers/", 1)[0]
OTHER_SUBSCRIPTION = "99999999-0000-0000-0000-000000000009"
VNET = BYO_VNET


def custom_zone_cluster(identity: Body | None = USER_ASSIGNED, zone: str = ZONE) -> Body:
    """The published private cluster with a custom zone, the published user-assigned
    identity, its pool moved to the recorded BYO subnet."""
    body = managed_cluster(CUSTOM_ZONE_CLUSTER)
    if identity is not None:
        body["identity"] = identity
    body["properties"]["apiServerAccessProfile"]["privateDNSZone"] = zone
    for pool in body["properties"]["agentPoolProfiles"]:
        pool["vnetSubnetID"] = BYO_SUBNET
    return body


CASES += [
    RuleCase(
        "PDN-004",
        "no-role-on-zone",
        with_reads(
            custom_zone_cluster(),
            {
                ZONE: assignments((UAMI, READER, ZONE_GROUP)),
                VNET: assignments((UAMI, NETWORK_CONTRIBUTOR, VNET)),
            },
        ),
        Outcome.FINDINGS,
        check=evidence_has(needed_role="Private DNS Zone Contributor", principal_ids=UAMI),
    ),
    RuleCase(
        "PDN-004",
        "no-network-contributor-on-vnet",
        with_reads(
            custom_zone_cluster(),
            {
                ZONE: assignments((UAMI, PRIVATE_DNS_ZONE_CONTRIBUTOR, ZONE)),
                VNET: assignments((UAMI, PRIVATE_DNS_ZONE_CONTRIBUTOR, VNET)),
            },
        ),
        Outcome.FINDINGS,
        check=evidence_has(needed_role="Network Contributor"),
    ),
    RuleCase(
        "PDN-004",
        "both-roles-held",
        with_reads(
            custom_zone_cluster(),
            {
                ZONE: assignments((UAMI, PRIVATE_DNS_ZONE_CONTRIBUTOR, ZONE)),
                VNET: assignments((UAMI, NETWORK_CONTRIBUTOR, VNET)),
            },
        ),
        Outcome.PASSED,
    ),
    RuleCase(
        "PDN-004",
        "system-assigned-is-pdn-003s-finding",
        with_reads(custom_zone_cluster({"type": "SystemAssigned", "principalId": "p"}), {}),
        Outcome.PASSED,
    ),
    RuleCase(
        "PDN-004",
        "zone-assignments-forbidden",
        with_reads(
            custom_zone_cluster(),
            {VNET: assignments((UAMI, NETWORK_CONTRIBUTOR, VNET))},
            forbidden=(ZONE,),
        ),
        Outcome.NOT_ASSESSED,
        check=reason_mentions("forbidden"),
    ),
]


def with_provider(zone: str, state: str | None) -> Callable[[], audit_pb2.ClusterFacts]:
    """The custom zone cluster with the published provider body, its namespace
    Microsoft.ContainerService and ``state`` (None: as published, "Registering")."""

    def build() -> audit_pb2.ClusterFacts:
        inventory = inventory_of(custom_zone_cluster(zone=zone))
        provider = arm_json("resources/GetProvider.json")
        provider["namespace"] = "Microsoft.ContainerService"
        if state is not None:
            provider["registrationState"] = state
        subscription = convert.resource_id_part(zone, "subscriptions")
        inventory.resource_providers.append(convert.resource_provider(subscription, provider))
        return facts_of(inventory)

    return build


OTHER_ZONE = ZONE.replace("00000000-0000-0000-0000-000000000000", OTHER_SUBSCRIPTION)


def forbidden_provider() -> audit_pb2.ClusterFacts:
    inventory = inventory_of(custom_zone_cluster(zone=OTHER_ZONE))
    inventory.gaps.add(
        resource_id=f"/subscriptions/{OTHER_SUBSCRIPTION}/providers/Microsoft.ContainerService",
        reason="forbidden",
        message="403 AuthorizationFailed",
    )
    return facts_of(inventory)


CASES += [
    RuleCase(
        "PDN-012",
        "zone-subscription-registering",
        with_provider(OTHER_ZONE, None),
        Outcome.FINDINGS,
        check=evidence_has(registration_state="Registering", zone_subscription=OTHER_SUBSCRIPTION),
    ),
    RuleCase(
        "PDN-012",
        "zone-subscription-not-registered",
        with_provider(OTHER_ZONE, "NotRegistered"),
        Outcome.FINDINGS,
    ),
    RuleCase(
        "PDN-012",
        "zone-subscription-registered",
        with_provider(OTHER_ZONE, "Registered"),
        Outcome.PASSED,
    ),
    RuleCase(
        "PDN-012",
        "zone-in-cluster-subscription",
        with_provider(ZONE, "NotRegistered"),
        Outcome.PASSED,
    ),
    RuleCase(
        "PDN-012",
        "provider-read-forbidden",
        forbidden_provider,
        Outcome.NOT_ASSESSED,
        check=reason_mentions("forbidden", OTHER_SUBSCRIPTION),
    ),
]
