"""Who may call the AdminService: the pure decision, and the admin URI SAN."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from netaudit.collector.ingest.admin_auth import (
    ADMIN_URI,
    certificate_is_admin,
    decide_admin,
)
from netaudit.collector.ingest.auth import (
    PEER_URI_PROPERTY,
    PermissionDenied,
    Unauthenticated,
    certificate_clusters,
    cluster_uri,
)

CLUSTER = (
    "/subscriptions/aaaaaaaa-0000-0000-0000-000000000001/resourceGroups/RG-A/providers/"
    "Microsoft.ContainerService/managedClusters/aks-a"
)


@dataclass(frozen=True)
class AdminToken:
    id: str
    name: str


OPS = AdminToken("0123abcd", "ops")

CASES = [
    # (what, admin certificate, certificate clusters, token sent, admin token, agent token, outcome)
    ("nothing", False, set(), False, None, False, Unauthenticated),
    ("unknown token", False, set(), True, None, False, Unauthenticated),
    ("agent token", False, set(), True, None, True, PermissionDenied),
    ("cluster certificate", False, {CLUSTER.lower()}, False, None, False, PermissionDenied),
    (
        "cluster certificate, unknown token",
        False,
        {CLUSTER.lower()},
        True,
        None,
        False,
        Unauthenticated,
    ),
    (
        "cluster certificate, agent token",
        False,
        {CLUSTER.lower()},
        True,
        None,
        True,
        PermissionDenied,
    ),
    ("admin token", False, set(), True, OPS, False, "admin token 0123abcd (ops)"),
    ("cluster certificate, admin token", False, {CLUSTER.lower()}, True, OPS, False, "admin token"),
    ("admin certificate", True, set(), False, None, False, "admin client certificate"),
    ("admin certificate, unknown token", True, set(), True, None, False, Unauthenticated),
]


@pytest.mark.parametrize(
    ("certificate", "clusters", "sent", "admin", "agent", "expected"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_only_an_admin_credential_opens_the_admin_service(
    certificate: bool,
    clusters: set[str],
    sent: bool,
    admin: AdminToken | None,
    agent: bool,
    expected: type[Exception] | str,
) -> None:
    def decide() -> str:
        return decide_admin(
            admin_certificate=certificate,
            certificate_clusters=clusters,
            token_sent=sent,
            admin_token=admin,
            agent_token=agent,
        )

    if isinstance(expected, str):
        assert decide().startswith(expected)
    else:
        with pytest.raises(expected):
            decide()


@pytest.mark.parametrize(
    ("uris", "admin", "clusters"),
    [
        ([ADMIN_URI], True, set()),
        ([cluster_uri(CLUSTER)], False, {CLUSTER.lower()}),
        (["netaudit:administrator", "urn:netaudit:admin"], False, set()),
        ([], False, set()),
    ],
)
def test_the_admin_uri_san_is_exact_and_names_no_cluster(
    uris: list[str], admin: bool, clusters: set[str]
) -> None:
    context = {PEER_URI_PROPERTY: [uri.encode() for uri in uris]}
    assert certificate_is_admin(context) is admin
    assert certificate_clusters(context) == clusters
