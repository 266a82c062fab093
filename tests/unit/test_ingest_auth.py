"""The pure parts of ingest authentication: metadata, URI SANs, the identity decision."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from netaudit.collector.ingest.auth import (
    Identity,
    PermissionDenied,
    Unauthenticated,
    bearer_token,
    certificate_clusters,
    cluster_of_uri,
    cluster_uri,
    decide_identity,
    is_aks_cluster_id,
)

CLUSTER = (
    "/subscriptions/aaaaaaaa-0000-0000-0000-000000000001/resourceGroups/RG-A/providers/"
    "Microsoft.ContainerService/managedClusters/aks-a"
)
KEY = CLUSTER.lower()
OTHER_KEY = KEY.replace("aks-a", "aks-b")


@dataclass(frozen=True)
class Token:
    id: str
    cluster_key: str


@pytest.mark.parametrize(
    ("metadata", "token"),
    [
        ((), None),
        ((("user-agent", "grpc-python"),), None),
        ((("authorization", "Bearer nat_abc"),), "nat_abc"),
        ((("authorization", "bearer   nat_abc  "),), "nat_abc"),
        ((("Authorization", b"Bearer nat_abc"),), "nat_abc"),
    ],
)
def test_bearer_token_is_read_from_the_authorization_metadata(
    metadata: tuple[tuple[str, str | bytes], ...], token: str | None
) -> None:
    assert bearer_token(metadata) == token


@pytest.mark.parametrize(
    "metadata",
    [
        (("authorization", "Basic dXNlcjpwYXNz"),),
        (("authorization", "Bearer"),),
        (("authorization", "Bearer   "),),
        (("authorization", "Bearer a"), ("authorization", "Bearer b")),
    ],
)
def test_malformed_authorization_is_unauthenticated(
    metadata: tuple[tuple[str, str], ...],
) -> None:
    with pytest.raises(Unauthenticated):
        bearer_token(metadata)


@pytest.mark.parametrize(
    ("uri", "key"),
    [
        (cluster_uri(CLUSTER), KEY),
        (CLUSTER, KEY),
        ("spiffe://fleet.example" + CLUSTER.upper(), KEY),
        ("https://management.azure.com/subscriptions/s/resourceGroups/rg", None),
        ("spiffe://fleet.example/ns/netaudit/sa/agent", None),
        (CLUSTER + "/agentPools/np1", None),
        ("", None),
    ],
)
def test_a_uri_san_names_a_cluster_by_its_path(uri: str, key: str | None) -> None:
    assert cluster_of_uri(uri) == key


def test_certificate_clusters_come_from_the_peer_uri_property_only() -> None:
    context = {
        "peer_uri": [cluster_uri(CLUSTER).encode(), b"spiffe://x/y"],
        "x509_common_name": [OTHER_KEY.encode()],
    }
    assert certificate_clusters(context) == {KEY}
    assert certificate_clusters({}) == set()


def test_cluster_ids_must_be_aks_arm_ids() -> None:
    assert is_aks_cluster_id(CLUSTER)
    assert is_aks_cluster_id(CLUSTER.lower())
    assert not is_aks_cluster_id(CLUSTER + "/")
    assert not is_aks_cluster_id("aks-a")
    assert not is_aks_cluster_id(CLUSTER.replace("managedClusters", "virtualMachines"))


def test_a_certificate_naming_one_cluster_is_that_cluster() -> None:
    assert decide_identity({KEY}, None, token_sent=False) == Identity(KEY, "client certificate")


def test_a_valid_token_is_its_cluster() -> None:
    identity = decide_identity(None, Token("abc123", KEY), token_sent=True)
    assert identity == Identity(KEY, "token abc123")


def test_certificate_and_token_of_one_cluster_agree() -> None:
    assert decide_identity({KEY}, Token("abc123", KEY), token_sent=True).cluster_key == KEY


@pytest.mark.parametrize(
    ("certificate", "token", "sent", "refusal", "says"),
    [
        (None, None, False, Unauthenticated, "no credential"),
        (None, None, True, Unauthenticated, "unknown or revoked"),
        ({KEY}, None, True, Unauthenticated, "unknown or revoked"),
        (set(), None, False, Unauthenticated, "names 0 clusters"),
        ({KEY, OTHER_KEY}, None, False, Unauthenticated, "names 2 clusters"),
        ({KEY}, Token("t1", OTHER_KEY), True, PermissionDenied, "token t1 is for"),
    ],
)
def test_refusals_say_why(
    certificate: set[str] | None,
    token: Token | None,
    sent: bool,
    refusal: type[Exception],
    says: str,
) -> None:
    with pytest.raises(refusal, match=says):
        decide_identity(certificate, token, token_sent=sent)


def test_an_identity_accepts_its_cluster_in_any_casing_and_refuses_others() -> None:
    identity = Identity(KEY, "token t1")
    identity.require(CLUSTER.upper(), "hello")
    identity.require(f"  {CLUSTER}  ", "hello")
    with pytest.raises(PermissionDenied, match=r"hello names .*aks-b, but the token t1 is for"):
        identity.require(CLUSTER.replace("aks-a", "aks-b"), "hello")
    with pytest.raises(PermissionDenied, match="names no cluster"):
        identity.require("", "the report")


def test_a_huge_cluster_id_is_cut_short_in_the_refusal() -> None:
    with pytest.raises(PermissionDenied) as refused:
        Identity(KEY, "token t1").require("x" * 1_000_000, "hello")
    assert len(str(refused.value)) < 1000
    assert "1000000 characters" in str(refused.value)
