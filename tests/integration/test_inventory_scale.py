"""ArmReader at scale against the sandbox ARM server's throttling model (time-compressed:
small buckets), over a synthetic fleet: pacing, Retry-After, Resource Graph listing,
incremental refresh and deletions, counted by the sandbox's request log."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from netaudit.collector.inventory.arm import ArmReader, client_secret_credential
from netaudit.collector.inventory.pacing import ArmLimits, BucketSize, Pacer
from netaudit.sandbox.arm import ArmFaults, ArmServer
from netaudit.sandbox.arm_throttle import ArmThrottle, Bucket, ThrottleLimits
from netaudit.sandbox.synthetic_fleet import cluster_id, subscription_id, synthetic_fleet, touch
from netaudit.v1 import inventory_pb2, report_pb2

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
SUBSCRIPTIONS = 2
CLUSTERS = 6
# Time-compressed limits: the model's and the client's the same size.
SERVER_LIMITS = ThrottleLimits(
    subscription_reads=Bucket(4, 5),
    list_managed_clusters=Bucket(2, 1),
    get_managed_cluster=Bucket(3, 2),
    other_managed_cluster=Bucket(3, 2),
    resource_graph=Bucket(2, 1),
)
CLIENT_LIMITS = ArmLimits(
    subscription_reads=BucketSize(4, 5),
    list_managed_clusters=BucketSize(2, 1),
    get_managed_cluster=BucketSize(3, 2),
    other_managed_cluster=BucketSize(3, 2),
    resource_graph=BucketSize(2, 1),
)


@pytest.fixture
def server() -> Iterator[ArmServer]:
    throttle = ArmThrottle(SERVER_LIMITS)
    with ArmServer(synthetic_fleet(SUBSCRIPTIONS, CLUSTERS), throttle=throttle) as running:
        yield running


def make_reader(
    server: ArmServer,
    *,
    pacer: Pacer | None,
    stored: dict[str, inventory_pb2.ClusterInventory] | None = None,
    subscriptions: list[str] | None = None,
    **options: object,
) -> ArmReader:
    data = server.data
    credential = client_secret_credential(
        data.tenant_id, data.client_id, data.client_secret, server.url, str(server.ca_pem_path)
    )
    held = stored or {}
    return ArmReader(
        credential,
        subscriptions or [subscription_id(s) for s in range(SUBSCRIPTIONS)],
        base_url=server.url,
        connection_verify=str(server.ca_pem_path),
        clock=lambda: NOW,
        pacer=pacer,
        stored=lambda sub: [i for i in held.values() if i.subscription_id.lower() == sub],
        max_concurrent_subscriptions=SUBSCRIPTIONS,
        **options,  # type: ignore[arg-type]
    )


def throttle(server: ArmServer) -> ArmThrottle:
    assert server.throttle is not None
    return server.throttle


def test_paced_refresh_meets_no_429(server: ArmServer) -> None:
    inventories = make_reader(server, pacer=Pacer(CLIENT_LIMITS)).read()
    assert len(inventories) == SUBSCRIPTIONS * CLUSTERS
    assert all(not i.gaps for i in inventories)
    assert throttle(server).throttled() == 0
    assert len(throttle(server).log) > SUBSCRIPTIONS * CLUSTERS


def test_unpaced_refresh_is_throttled(server: ArmServer) -> None:
    make_reader(server, pacer=None).read()
    assert throttle(server).throttled() > 0


def test_no_request_reaches_a_subscription_before_its_retry_after(server: ArmServer) -> None:
    """The client believes in the documented limits, the model has tiny ones: ARM's 429s
    come, and after each no request reaches that subscription until Retry-After ends."""
    inventories = make_reader(server, pacer=Pacer(ArmLimits())).read()
    model = throttle(server)
    assert model.throttled() > 0
    assert model.before_retry_after() == 0
    assert len(inventories) == SUBSCRIPTIONS * CLUSTERS


def test_unchanged_fleet_second_refresh_lists_and_reads_usages_only(server: ArmServer) -> None:
    first = make_reader(server, pacer=Pacer(CLIENT_LIMITS)).read()
    stored = {i.arm_resource_id.lower(): i for i in first}
    changed = cluster_id(1, 2)
    touch(server.data, changed)
    throttle(server).reset_log()

    second = make_reader(server, pacer=Pacer(CLIENT_LIMITS), stored=stored).read()

    paths = [r.path.lower() for r in throttle(server).log]
    detail = [p for p in paths if not p.endswith(("/managedclusters", "/usages"))]
    # the changed cluster's subnet and VNet, its subscription's private zones
    assert all("vnet-0002" in p or "privatednszones" in p for p in detail), detail
    assert sum(p.endswith("/usages") for p in paths) == SUBSCRIPTIONS * CLUSTERS
    assert len(second) == SUBSCRIPTIONS * CLUSTERS
    by_id = {i.arm_resource_id.lower(): i for i in second}
    assert by_id[changed.lower()].last_modified_at != stored[changed.lower()].last_modified_at


def test_full_refresh_reads_every_cluster_again(server: ArmServer) -> None:
    first = make_reader(server, pacer=Pacer(CLIENT_LIMITS)).read()
    stored = {i.arm_resource_id.lower(): i for i in first}
    throttle(server).reset_log()
    make_reader(server, pacer=Pacer(CLIENT_LIMITS), stored=stored, full=True).read()
    vnet_gets = [r for r in throttle(server).log if r.path.lower().endswith("/vnet-0000")]
    assert len(vnet_gets) == SUBSCRIPTIONS


@pytest.mark.parametrize("listing", ["per-subscription", "resource-graph"])
def test_a_cluster_gone_from_arm_is_marked_deleted(server: ArmServer, listing: str) -> None:
    first = make_reader(server, pacer=Pacer(CLIENT_LIMITS)).read()
    stored = {i.arm_resource_id.lower(): i for i in first}
    gone = cluster_id(0, 3)
    server.data.remove(gone)

    second = make_reader(server, pacer=Pacer(CLIENT_LIMITS), stored=stored, listing=listing).read()

    deleted = [i for i in second if i.HasField("deleted_at")]
    assert [i.arm_resource_id for i in deleted] == [gone]
    assert deleted[0].deleted_at.ToDatetime(tzinfo=UTC) == NOW
    assert len(second) == SUBSCRIPTIONS * CLUSTERS


def test_resource_graph_lists_every_subscription_in_one_paged_query(server: ArmServer) -> None:
    inventories = make_reader(server, pacer=Pacer(CLIENT_LIMITS), listing="resource-graph").read()
    log = throttle(server).log
    assert sum("microsoft.resourcegraph" in r.path.lower() for r in log) == 1
    assert not any(r.path.lower().endswith("/managedclusters") for r in log)
    assert len(inventories) == SUBSCRIPTIONS * CLUSTERS
    assert all(not i.gaps for i in inventories)


def test_a_forbidden_subscription_is_a_gap_and_the_refresh_goes_on() -> None:
    forbidden = subscription_id(1)
    faults = ArmFaults.forbidden(f"^/subscriptions/{forbidden}/")
    with ArmServer(synthetic_fleet(SUBSCRIPTIONS, CLUSTERS), faults=faults) as running:
        reader = make_reader(running, pacer=Pacer(CLIENT_LIMITS))
        inventories = reader.read()
    assert {i.subscription_id for i in inventories} == {subscription_id(0)}
    assert [(g.resource_id, g.reason) for g in reader.subscription_gaps] == [
        (f"/subscriptions/{forbidden}", "forbidden")
    ]


@pytest.mark.parametrize("paced", [True, False])
def test_after_a_429_its_retry_after_holds_back_the_next_resource_too(
    server: ArmServer, paced: bool
) -> None:
    """Without retries a throttled read becomes a gap and the reader moves on to the next
    resource of the subscription: the pacer keeps that one back until Retry-After ends
    (unpaced, it goes at once: this test can fail)."""
    pacer = Pacer(ArmLimits()) if paced else None
    make_reader(server, pacer=pacer, retry_total=0).read()
    model = throttle(server)
    assert model.throttled() > 0
    assert (model.before_retry_after() == 0) is paced


def test_a_cluster_whose_external_dns_instances_changed_is_read_again(server: ArmServer) -> None:
    """The zones read for a cluster follow its ExternalDNS instances (its latest agent
    report), which change without the cluster changing."""
    first = make_reader(server, pacer=Pacer(CLIENT_LIMITS)).read()
    stored = {i.arm_resource_id.lower(): i for i in first}
    target = cluster_id(0, 1).lower()
    report = report_pb2.Report()
    instance = report.external_dns.instances.add(
        provider="azure-private-dns", txt_owner_id="shop", domain_filters=["shop.internal"]
    )
    instance.workload.namespace, instance.workload.name = "external-dns", "external-dns"
    instance.workload.args.extend(["--provider=azure-private-dns", "--domain-filter=shop.internal"])
    throttle(server).reset_log()

    second = make_reader(
        server,
        pacer=Pacer(CLIENT_LIMITS),
        stored=stored,
        latest_report=lambda key: report if key == target else None,
    ).read()

    vnet_gets = [
        r.path.lower() for r in throttle(server).log if r.path.lower().endswith("/vnet-0001")
    ]
    assert vnet_gets == [
        f"/subscriptions/{subscription_id(0)}/resourcegroups/rg-fleet-0001/providers/microsoft.network/virtualnetworks/vnet-0001"
    ]
    by_id = {i.arm_resource_id.lower(): i for i in second}
    assert [s.instance for s in by_id[target].external_dns_zone_selections] == [
        "external-dns/external-dns"
    ]
