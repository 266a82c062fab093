"""Reads the fleet from Azure Resource Manager: the only importer of ``azure.*``.

Per subscription: the managed clusters (agent pools come in the cluster body;
the agentPools list is read when a body has none), then per cluster the
subnets its pools use, each VNet once (address space, DNS servers, peerings,
``usages``, the subnets it embeds), the virtual node subnet its add-on names,
the network security group of each subnet, the private DNS zones relevant to
it (and those its ExternalDNS instances write, linked or not) with their links and
record sets, the public DNS zones its ExternalDNS instances write with their
record sets, the API server's private endpoint with its address (private
clusters), the Application Gateway its AGIC add-on targets, the role assignments
at its subnets, VNets and custom zone (:mod:`.role_assignments`),
``Microsoft.ContainerService`` registration in a custom zone's other subscription
(:mod:`.providers`) and its AGC association subnets (:mod:`.agc_associations`). The
official clients are used unchanged (reads they have no operation for go through their
pipeline, :mod:`.raw_requests`); ``base_url`` and ``connection_verify`` point them at a
sovereign cloud or the sandbox.

What fails on one resource becomes an ``InventoryGap`` on the cluster (a 403
on a hub VNet must not hide the rest); what makes the whole subscription
unreadable raises one of :mod:`netaudit.collector.inventory.errors`.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable, Iterable, MutableSequence, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, TypeVar

from azure.core.credentials import TokenCredential
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.core.rest import HttpRequest
from azure.mgmt.containerservice import ContainerServiceClient
from azure.mgmt.dns import DnsManagementClient
from azure.mgmt.network import NetworkManagementClient
from azure.mgmt.privatedns import PrivateDnsManagementClient

from netaudit.collector.analysis.external_dns_zones import is_public, selects, zone_selections
from netaudit.collector.config import AzureSettings
from netaudit.collector.inventory import (
    agc_associations,
    convert,
    providers,
    resource_graph,
    role_assignments,
)
from netaudit.collector.inventory.credentials import (
    client_secret_credential,
    credential_sources,
    make_credential,
)
from netaudit.collector.inventory.errors import (
    ArmAuthenticationError,
    ArmError,
    ArmUnreachableError,
    SubscriptionAccessDenied,
    TransientArmError,
    UnknownSubscriptionError,
)
from netaudit.collector.inventory.pacing import JitteredRetryPolicy, Pacer, PacingPolicy
from netaudit.collector.inventory.references import (
    addon_setting,
    provider_id,
    provider_registrations,
    referenced_subnet_ids,
    role_assignment_scopes,
    role_assignments_listing,
    unique_gaps,
    unique_ids,
)
from netaudit.collector.inventory.refresh_plan import RefreshPlan, marked_deleted, plan_refresh
from netaudit.v1 import inventory_pb2, report_pb2

__all__ = [
    "ArmAuthenticationError",
    "ArmError",
    "ArmReader",
    "ArmRequestCounts",
    "ArmUnreachableError",
    "SubscriptionAccessDenied",
    "TransientArmError",
    "UnknownSubscriptionError",
    "client_secret_credential",
    "make_credential",
]

logger = logging.getLogger(__name__)

DEFAULT_RETRY_TOTAL = 3
"""Retries of one request (azure-core honours Retry-After on 429); ARM throttles per
subscription at about 1 request/s sustained (domain.md §1.10)."""

T = TypeVar("T")
Zone = TypeVar("Zone", inventory_pb2.PrivateDnsZone, inventory_pb2.PublicDnsZone)
Payload = dict[str, Any]
LatestReport = Callable[[str], report_pb2.Report | None]
"""The latest agent report of a cluster, by cluster key (lower-cased ARM id)."""
StoredInventories = Callable[[str], list[inventory_pb2.ClusterInventory]]
"""The stored inventories of a subscription (by lower-cased id): what an incremental
refresh compares the listing with."""
LISTINGS = ("per-subscription", "resource-graph")
PROGRESS_EVERY = 50
"""Clusters between two progress lines of a long refresh."""

AGIC_ADDON = "ingressapplicationgateway"
AGIC_GATEWAY_KEY = "effectiveApplicationGatewayId"
VIRTUAL_NODE_ADDON = "aciconnectorlinux"
VIRTUAL_NODE_SUBNET_KEY = "SubnetName"
MISSING_RESOURCE_CODES = frozenset({"resourcenotfound", "resourcegroupnotfound"})
"""404 codes that say the resource itself does not exist (SubscriptionNotFound does not)."""


@dataclass
class ArmRequestCounts:
    """HTTP requests sent to ARM (every attempt, retries included) and how many of them
    ARM throttled (429)."""

    requests: int = 0
    throttled: int = 0

    def observe(self, response: Any) -> None:
        """azure-core's ``raw_response_hook``: called once per attempt."""
        self.requests += 1
        if response.http_response.status_code == 429:
            self.throttled += 1


@dataclass
class _Read:
    """Results of one refresh, shared by the clusters read in it: each VNet, subnet and
    zone is read once, and a failure is a gap on every cluster that needed it."""

    values: dict[str, Any] = field(default_factory=dict)
    failures: dict[str, inventory_pb2.InventoryGap] = field(default_factory=dict)


class ArmReader:
    """Reads managed clusters and their network resources into ``ClusterInventory`` messages."""

    def __init__(
        self,
        credential: TokenCredential,
        subscriptions: Sequence[str],
        base_url: str | None = None,
        connection_verify: str | None = None,
        retry_total: int = DEFAULT_RETRY_TOTAL,
        read_timeout: float | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        counts: ArmRequestCounts | None = None,
        latest_report: LatestReport = lambda _cluster_key: None,
        pacer: Pacer | None = None,
        stored: StoredInventories = lambda _subscription: [],
        full: bool = False,
        listing: str = "per-subscription",
        max_concurrent_subscriptions: int = 1,
        progress: Callable[[str], None] | None = None,
        details_max_age: timedelta | None = None,
    ) -> None:
        """``read_timeout`` (seconds) bounds each response; None keeps azure-core's 300 s.
        ``counts``, when given, counts every request and throttled answer.
        ``latest_report`` names the ExternalDNS instances whose private zones are read
        (linked to the cluster or not). ``pacer`` (see pacing.py) paces every request;
        None sends them as fast as answers come. ``stored`` gives the previous
        inventories: clusters unchanged since are kept with fresh usages, and those ARM
        no longer lists come back marked deleted; ``full`` reads every cluster anyway.
        ``listing`` is how :meth:`read` lists the clusters (``resource-graph``: one query
        for all subscriptions), ``max_concurrent_subscriptions`` how many subscriptions
        it reads at once. Details read longer than ``details_max_age`` ago are read
        again even when the cluster did not change (None: never)."""
        if listing not in LISTINGS:
            raise ValueError(f"listing must be one of {', '.join(LISTINGS)}, not {listing!r}")
        self.subscriptions = list(subscriptions)
        self._latest_report = latest_report
        self._pacer = pacer
        self._stored = stored
        self._full = full
        self._listing = listing
        self._concurrency = max(1, max_concurrent_subscriptions)
        self._details_max_age = details_max_age
        self._progress = progress or (lambda line: logger.info("%s", line))
        self.subscription_gaps: list[inventory_pb2.InventoryGap] = []
        self._credential = credential
        self._base_url = base_url.rstrip("/") if base_url else None
        self._clock = clock
        self._retry_total = retry_total
        self._options: dict[str, Any] = {}
        if self._base_url:
            self._options["base_url"] = self._base_url
            self._options["credential_scopes"] = [f"{self._base_url}/.default"]
        if connection_verify:
            self._options["connection_verify"] = connection_verify
        if read_timeout is not None:
            self._options["read_timeout"] = read_timeout
        if counts is not None:
            self._options["raw_response_hook"] = counts.observe
        self._clients: dict[tuple[str, str], Any] = {}

    @classmethod
    def from_settings(
        cls,
        azure: AzureSettings,
        credential: TokenCredential,
        counts: ArmRequestCounts | None = None,
        latest_report: LatestReport = lambda _cluster_key: None,
    ) -> ArmReader:
        return cls(
            credential,
            azure.subscriptions,
            base_url=azure.arm_url or None,
            connection_verify=str(azure.ca_bundle) if azure.ca_bundle else None,
            counts=counts,
            latest_report=latest_report,
        )

    # -- clients ------------------------------------------------------------------------

    def _client(self, kind: type[T], subscription_id: str) -> T:
        key = (kind.__name__, subscription_id.lower())
        if key not in self._clients:
            self._clients[key] = kind(  # type: ignore[call-arg]
                self._credential, subscription_id, **self._options, **self._policies()
            )
        client: T = self._clients[key]
        return client

    def _policies(self) -> dict[str, Any]:
        """Policies of one client (a policy instance belongs to one pipeline): jittered
        retries, and the pacing after them so every attempt waits its turn."""
        policies: dict[str, Any] = {
            "retry_policy": JitteredRetryPolicy(retry_total=self._retry_total)
        }
        if self._pacer is not None:
            policies["per_retry_policies"] = [PacingPolicy(self._pacer)]
        return policies

    def _aks(self, subscription_id: str) -> ContainerServiceClient:
        return self._client(ContainerServiceClient, subscription_id)

    def _network(self, subscription_id: str) -> NetworkManagementClient:
        return self._client(NetworkManagementClient, subscription_id)

    def _dns(self, subscription_id: str) -> PrivateDnsManagementClient:
        return self._client(PrivateDnsManagementClient, subscription_id)

    def _public_dns(self, subscription_id: str) -> DnsManagementClient:
        return self._client(DnsManagementClient, subscription_id)

    # -- the fleet ----------------------------------------------------------------------

    def read(self) -> list[inventory_pb2.ClusterInventory]:
        """Every configured subscription's clusters, ``max_concurrent_subscriptions`` at a
        time. A subscription that cannot be read (403, unknown to ARM, throttled past the
        retries) becomes an entry of ``subscription_gaps`` and the others are read;
        authentication and reachability failures, or every subscription failing, raise."""
        state = _Read()
        listed = self._graph_listing() if self._listing == "resource-graph" else {}

        def one(subscription_id: str) -> list[inventory_pb2.ClusterInventory] | ArmError:
            try:
                # No rows: an empty subscription, or one Resource Graph leaves out because
                # the principal may not read it; ARM's own LIST tells them apart.
                rows = listed.get(subscription_id.lower()) or None
                return self._read_subscription(subscription_id, state, rows)
            except (ArmAuthenticationError, ArmUnreachableError):
                raise
            except ArmError as exc:
                return exc

        with ThreadPoolExecutor(self._concurrency, thread_name_prefix="arm-read") as pool:
            results = list(pool.map(one, self.subscriptions))
        failures = [r for r in results if isinstance(r, ArmError)]
        if failures and len(failures) == len(results):
            raise failures[0]
        for subscription_id, result in zip(self.subscriptions, results, strict=True):
            if isinstance(result, ArmError):
                logger.warning("subscription %s not read: %s", subscription_id, result)
                self.subscription_gaps.append(
                    inventory_pb2.InventoryGap(
                        resource_id=f"/subscriptions/{subscription_id}",
                        reason=_subscription_reason(result),
                        message=str(result),
                    )
                )
        return [i for r in results if not isinstance(r, ArmError) for i in r]

    def read_subscription(self, subscription_id: str) -> list[inventory_pb2.ClusterInventory]:
        return self._read_subscription(subscription_id, _Read())

    def _graph_listing(self) -> dict[str, list[Payload]]:
        """The clusters of every subscription from one Resource Graph query; empty (each
        subscription then lists its own) when Resource Graph cannot answer."""
        if not self.subscriptions:
            return {}
        client = self._aks(self.subscriptions[0])

        def send(path: str, body: Payload) -> Payload:
            response = client.send_request(HttpRequest("POST", path, json=body))
            response.raise_for_status()
            answer: Payload = response.json()
            return answer

        try:
            return resource_graph.list_managed_clusters(send, self.subscriptions)
        except (HttpResponseError, ServiceRequestError, ServiceResponseError) as exc:
            logger.warning(
                "Resource Graph did not list the clusters (%s): listing each subscription",
                _first_line(exc),
            )
            return {}

    def _read_subscription(
        self, subscription_id: str, state: _Read, listed: list[Payload] | None = None
    ) -> list[inventory_pb2.ClusterInventory]:
        """``listed``: the clusters Resource Graph listed (None: list them from ARM)."""
        try:
            if listed is None:
                aks = self._aks(subscription_id)
                clusters = [c.as_dict() for c in aks.managed_clusters.list()]
            else:
                clusters = listed
            max_age = self._details_max_age
            plan = plan_refresh(
                ((c, convert.cluster_inventory(c)) for c in clusters),
                self._stored(subscription_id.lower()),
                full=self._full,
                details_since=self._clock() - max_age if max_age is not None else None,
            )
            self._reread_changed_selections(plan)
            zones = self._subscription_zones(subscription_id, state) if plan.read else []
            inventories: list[inventory_pb2.ClusterInventory] = []
            total = len(plan.read) + len(plan.keep)
            for payload, _reason in plan.read:
                inventories.append(self._cluster(payload, zones, state))
                self._report_progress(subscription_id, len(inventories), total)
            for _payload, stored in plan.keep:
                inventories.append(self._kept(stored, state))
                self._report_progress(subscription_id, len(inventories), total)
            for stored in plan.gone:
                if listed is None or self._confirmed_gone(stored.arm_resource_id):
                    inventories.append(marked_deleted(stored, self._clock()))
        except (
            ClientAuthenticationError,
            HttpResponseError,
            ServiceRequestError,
            ServiceResponseError,
        ) as exc:
            raise self._subscription_error(exc, subscription_id) from exc
        logger.info(
            "subscription %s: %d cluster(s) read in detail, %d unchanged, %d gone from ARM",
            subscription_id,
            len(plan.read),
            len(plan.keep),
            len(plan.gone),
        )
        return inventories

    def _reread_changed_selections(self, plan: RefreshPlan) -> None:
        """The private zones read for a cluster follow its ExternalDNS instances (from its
        latest agent report), which change without the cluster changing."""
        keep = []
        for payload, stored in plan.keep:
            report = self._latest_report(stored.arm_resource_id.lower())
            wanted = zone_selections(report, stored.subscription_id)
            if list(wanted) != list(stored.external_dns_zone_selections):
                plan.read.append((payload, "ExternalDNS zone selections changed"))
            else:
                keep.append((payload, stored))
        plan.keep = keep

    def _report_progress(self, subscription_id: str, done: int, total: int) -> None:
        if done == total or done % PROGRESS_EVERY == 0:
            self._progress(f"subscription {subscription_id}: {done}/{total} clusters")

    def _kept(
        self, stored: inventory_pb2.ClusterInventory, state: _Read
    ) -> inventory_pb2.ClusterInventory:
        """The stored inventory of an unchanged cluster with its VNets' usages read again
        (they change without the cluster changing); a usage that cannot be read keeps the
        old rows and becomes a gap, so the next refresh reads the cluster in full."""
        inventory = inventory_pb2.ClusterInventory()
        inventory.CopyFrom(stored)
        gaps: list[inventory_pb2.InventoryGap] = []
        for vnet in inventory.virtual_networks:
            read = partial(self._usages, vnet.id)
            usages = self._attempt(gaps, state, f"{vnet.id}/usages", read)
            if usages is not None:
                del vnet.subnet_usages[:]
                vnet.subnet_usages.extend(usages)
        inventory.refreshed_at.FromDatetime(self._clock())
        inventory.gaps.extend(unique_gaps(gaps))
        return inventory

    def _usages(self, vnet_id: str) -> list[inventory_pb2.SubnetUsage]:
        network = self._network(convert.resource_id_part(vnet_id, "subscriptions"))
        rows = network.virtual_networks.list_usage(
            convert.resource_id_part(vnet_id, "resourceGroups"),
            convert.resource_id_part(vnet_id, "virtualNetworks"),
        )
        return [convert.subnet_usage(row) for row in rows]

    def _confirmed_gone(self, cluster_id: str) -> bool:
        """Resource Graph leaves out what the principal cannot see: ARM confirms a cluster
        missing from its rows is gone (404) before it is marked deleted."""
        aks = self._aks(convert.resource_id_part(cluster_id, "subscriptions"))
        try:
            aks.managed_clusters.get(
                convert.resource_id_part(cluster_id, "resourceGroups"),
                convert.resource_id_part(cluster_id, "managedClusters"),
            )
        except ResourceNotFoundError:
            return True
        except HttpResponseError:
            return False  # unknown is not gone: the next refresh asks again
        return False

    def _authentication_failure(self, exc: ClientAuthenticationError) -> str:
        sources = credential_sources(self._credential)
        if len(sources) > 1:
            return (
                f"no Azure credential worked (tried {', '.join(sources)}); set "
                "azure.credential to the one this deployment uses, or azure.tenant_id, "
                "azure.client_id and azure.client_secret_file"
            )
        return (
            f"cannot authenticate to Azure with {sources[0]}: {_first_line(exc)}; check "
            "azure.credential, azure.tenant_id, azure.client_id, its secret or certificate "
            "and azure.authority_url"
        )

    def _subscription_error(self, exc: Exception, subscription_id: str) -> ArmError:
        where = self._base_url or "the public cloud"
        if _is_tls_failure(exc):
            return ArmUnreachableError(
                f"cannot verify the TLS certificate of Azure ({where} or its authority): "
                f"{_first_line(exc)}; set azure.ca_bundle to the CA that signed it"
            )
        if isinstance(exc, ClientAuthenticationError) and not _is_http_401(exc):
            return ArmAuthenticationError(self._authentication_failure(exc))
        if isinstance(exc, (ServiceRequestError, ServiceResponseError)):
            return ArmUnreachableError(
                f"cannot reach Azure Resource Manager at {where}: {_first_line(exc)}; check "
                "azure.arm_url, azure.ca_bundle and the network"
            )
        assert isinstance(exc, HttpResponseError)
        status, code = exc.status_code, _error_code(exc)
        if status == 401:
            return ArmAuthenticationError(
                f"Azure Resource Manager at {where} rejected the token ({code}); check that "
                "azure.authority_url and azure.arm_url belong to the same cloud"
            )
        if status == 404 or code in {"SubscriptionNotFound", "InvalidSubscriptionId"}:
            return UnknownSubscriptionError(
                f"subscription {subscription_id} is not known to Azure Resource Manager at "
                f"{where} ({code}); check azure.subscriptions"
            )
        if status == 403:
            return SubscriptionAccessDenied(
                f"the credential may not read subscription {subscription_id} ({code}); grant "
                "it Reader on the subscription or remove it from azure.subscriptions"
            )
        if status is not None and (status == 429 or status >= 500):
            return TransientArmError(
                f"Azure Resource Manager answered {status} {code} for subscription "
                f"{subscription_id} after retries; try again later"
            )
        return ArmError(
            f"Azure Resource Manager answered {status} {code} for subscription "
            f"{subscription_id}: {_first_line(exc)}"
        )

    # -- one cluster --------------------------------------------------------------------

    def _cluster(
        self, payload: Payload, subscription_zones: list[Payload], state: _Read
    ) -> inventory_pb2.ClusterInventory:
        gaps: list[inventory_pb2.InventoryGap] = []
        cluster_id = str(payload.get("id", ""))
        pools = None
        if not (payload.get("properties") or {}).get("agentPoolProfiles"):
            pools = self._attempt(
                gaps, state, f"{cluster_id}/agentPools", partial(self._agent_pools, cluster_id)
            )
        inventory = convert.cluster_inventory(payload, pools)

        for subnet_id in referenced_subnet_ids(inventory):
            subnet = self._attempt(gaps, state, subnet_id, partial(self._subnet, subnet_id))
            if subnet is not None:
                inventory.subnets.append(subnet)
        for vnet_id in unique_ids(
            convert.parent_id(s, "subnets") for s in referenced_subnet_ids(inventory)
        ):
            read_vnet = partial(self._virtual_network, vnet_id, state)
            vnet = self._attempt(gaps, state, vnet_id, read_vnet)
            if vnet is not None:
                inventory.virtual_networks.append(vnet)
        self._virtual_node_subnet(inventory, gaps, state)
        self._network_security_groups(inventory, gaps, state)
        for zone in self._relevant_zones(inventory, subscription_zones, gaps, state):
            inventory.private_dns_zones.append(zone)
        self._external_dns_zones(inventory, gaps, state)
        self._api_server_endpoints(inventory, gaps, state)
        self._agic_gateway(inventory, gaps, state)
        self._role_assignments(inventory, gaps, state)
        self._provider_registrations(inventory, gaps, state)
        self._agc_associations(inventory, gaps, state)

        inventory.refreshed_at.FromDatetime(self._clock())
        inventory.details_read_at.FromDatetime(self._clock())
        inventory.gaps.extend(unique_gaps(gaps))
        return inventory

    def _agent_pools(self, cluster_id: str) -> list[Payload]:
        aks = self._aks(convert.resource_id_part(cluster_id, "subscriptions"))
        return [
            pool.as_dict()
            for pool in aks.agent_pools.list(
                convert.resource_id_part(cluster_id, "resourceGroups"),
                convert.resource_id_part(cluster_id, "managedClusters"),
            )
        ]

    def _subnet(self, subnet_id: str) -> inventory_pb2.Subnet:
        network = self._network(convert.resource_id_part(subnet_id, "subscriptions"))
        body = network.subnets.get(
            convert.resource_id_part(subnet_id, "resourceGroups"),
            convert.resource_id_part(subnet_id, "virtualNetworks"),
            convert.resource_id_part(subnet_id, "subnets"),
        )
        return convert.subnet(body)

    def _virtual_network(self, vnet_id: str, state: _Read) -> inventory_pb2.VirtualNetwork:
        """The VNet with its usages; the subnets its body embeds are kept for the refresh,
        so a subnet needed later (the virtual node subnet) costs no request."""
        network = self._network(convert.resource_id_part(vnet_id, "subscriptions"))
        group = convert.resource_id_part(vnet_id, "resourceGroups")
        name = convert.resource_id_part(vnet_id, "virtualNetworks")
        body = network.virtual_networks.get(group, name)
        usages = list(network.virtual_networks.list_usage(group, name))
        for subnet in convert.subnets_of_virtual_network(body):
            if subnet.id:
                state.values.setdefault(subnet.id.lower(), subnet)
        return convert.virtual_network(body, usages)

    def _virtual_node_subnet(
        self,
        inventory: inventory_pb2.ClusterInventory,
        gaps: list[inventory_pb2.InventoryGap],
        state: _Read,
    ) -> None:
        """The subnet the virtual nodes add-on names (``config.SubnetName``), looked up in
        the VNets of the pools' subnets; one those VNets do not embed does not exist, and
        the inventory then holds no such subnet (VND-003 judges that)."""
        addon = inventory.addons.get(VIRTUAL_NODE_ADDON)
        name = addon_setting(addon.config, VIRTUAL_NODE_SUBNET_KEY) if addon is not None else ""
        if addon is None or not addon.enabled or not name:
            return
        pool_vnets = {
            convert.parent_id(pool.vnet_subnet_id, "subnets").lower()
            for pool in inventory.agent_pools
            if pool.vnet_subnet_id
        }
        have = {subnet.id.lower() for subnet in inventory.subnets}
        for vnet in inventory.virtual_networks:
            if vnet.id.lower() not in pool_vnets:
                continue
            wanted = f"{vnet.id}/subnets/{name}".lower()
            subnet_id = next((s for s in vnet.subnet_ids if s.lower() == wanted), None)
            if subnet_id is None or wanted in have:
                continue
            subnet = self._attempt(gaps, state, subnet_id, partial(self._subnet, subnet_id))
            if subnet is not None:
                inventory.subnets.append(subnet)
                have.add(wanted)

    # -- network security groups --------------------------------------------------------

    def _network_security_groups(
        self,
        inventory: inventory_pb2.ClusterInventory,
        gaps: list[inventory_pb2.InventoryGap],
        state: _Read,
    ) -> None:
        """The NSG of every subnet in the inventory, each once."""
        for nsg_id in unique_ids(s.network_security_group_id for s in inventory.subnets):
            nsg = self._attempt(gaps, state, nsg_id, partial(self._network_security_group, nsg_id))
            if nsg is not None:
                inventory.network_security_groups.append(nsg)

    def _network_security_group(self, nsg_id: str) -> inventory_pb2.NetworkSecurityGroup:
        network = self._network(convert.resource_id_part(nsg_id, "subscriptions"))
        body = network.network_security_groups.get(
            convert.resource_id_part(nsg_id, "resourceGroups"),
            convert.resource_id_part(nsg_id, "networkSecurityGroups"),
        )
        return convert.network_security_group(body)

    # -- the API server's private endpoint ------------------------------------------------

    def _api_server_endpoints(
        self,
        inventory: inventory_pb2.ClusterInventory,
        gaps: list[inventory_pb2.InventoryGap],
        state: _Read,
    ) -> None:
        """For a private cluster without API Server VNet Integration: the private endpoints
        of the node resource group whose connection targets the cluster (A-PRV: AKS puts the
        API server's endpoint there), with their private addresses. The endpoint's network
        interface is read only when the endpoint body does not carry its addresses."""
        access = inventory.api_server_access
        group = inventory.node_resource_group
        if not access.enable_private_cluster or access.enable_vnet_integration or not group:
            return
        listing = (
            f"/subscriptions/{inventory.subscription_id}/resourceGroups/{group}"
            "/providers/Microsoft.Network/privateEndpoints"
        )
        read_list = partial(self._private_endpoints, inventory.subscription_id, group)
        endpoints = self._attempt(gaps, state, listing, read_list)
        cluster_id = inventory.arm_resource_id.lower()
        for body in endpoints or ():
            endpoint = convert.private_endpoint(body)
            targets = {c.private_link_service_id.lower() for c in endpoint.connections}
            if cluster_id not in targets:
                continue
            nics: list[Payload] = []
            if not endpoint.private_ip_addresses:
                for nic_id in endpoint.network_interface_ids:
                    nic = self._attempt(
                        gaps, state, nic_id, partial(self._network_interface, nic_id)
                    )
                    if nic is not None:
                        nics.append(nic)
                endpoint = convert.private_endpoint(body, nics)
            inventory.private_endpoints.append(endpoint)

    def _private_endpoints(self, subscription_id: str, group: str) -> list[Payload]:
        network = self._network(subscription_id)
        return [endpoint.as_dict() for endpoint in network.private_endpoints.list(group)]

    def _network_interface(self, nic_id: str) -> Payload:
        network = self._network(convert.resource_id_part(nic_id, "subscriptions"))
        body = network.network_interfaces.get(
            convert.resource_id_part(nic_id, "resourceGroups"),
            convert.resource_id_part(nic_id, "networkInterfaces"),
        )
        payload: Payload = body.as_dict()
        return payload

    # -- the Application Gateway AGIC targets --------------------------------------------

    def _agic_gateway(
        self,
        inventory: inventory_pb2.ClusterInventory,
        gaps: list[inventory_pb2.InventoryGap],
        state: _Read,
    ) -> None:
        """The Application Gateway the AGIC add-on's ``effectiveApplicationGatewayId`` names."""
        addon = inventory.addons.get(AGIC_ADDON)
        gateway_id = addon_setting(addon.config, AGIC_GATEWAY_KEY) if addon is not None else ""
        if addon is None or not addon.enabled or not gateway_id.startswith("/"):
            return
        read = partial(self._application_gateway, gateway_id)
        gateway = self._attempt(gaps, state, gateway_id, read)
        if gateway is not None:
            inventory.application_gateways.append(gateway)

    def _application_gateway(self, gateway_id: str) -> inventory_pb2.ApplicationGateway:
        """The gateway, or a ``missing`` one when ARM answers that it does not exist; other
        failures (403, a subscription ARM does not know) stay gaps."""
        network = self._network(convert.resource_id_part(gateway_id, "subscriptions"))
        try:
            body = network.application_gateways.get(
                convert.resource_id_part(gateway_id, "resourceGroups"),
                convert.resource_id_part(gateway_id, "applicationGateways"),
            )
        except ResourceNotFoundError as exc:
            if _error_code(exc).lower() not in MISSING_RESOURCE_CODES:
                raise
            return convert.missing_application_gateway(gateway_id)
        return convert.application_gateway(body)

    # -- rights, registrations and AGC subnets (reads in their own modules) ---------------

    def _role_assignments(
        self,
        inventory: inventory_pb2.ClusterInventory,
        gaps: list[inventory_pb2.InventoryGap],
        state: _Read,
    ) -> None:
        for scope in role_assignment_scopes(inventory):
            client = self._network(convert.resource_id_part(scope, "subscriptions"))
            read = partial(role_assignments.read_scope, client, scope)
            found = self._attempt(gaps, state, role_assignments_listing(scope), read)
            if found is not None:
                inventory.role_assignment_scopes.append(found)

    def _provider_registrations(
        self,
        inventory: inventory_pb2.ClusterInventory,
        gaps: list[inventory_pb2.InventoryGap],
        state: _Read,
    ) -> None:
        for subscription_id, namespace in provider_registrations(inventory):
            client = self._network(subscription_id)
            read = partial(providers.read_registration, client, subscription_id, namespace)
            resource_id = provider_id(subscription_id, namespace)
            found = self._attempt(gaps, state, resource_id, read)
            if found is not None:
                inventory.resource_providers.append(found)

    def _agc_associations(
        self,
        inventory: inventory_pb2.ClusterInventory,
        gaps: list[inventory_pb2.InventoryGap],
        state: _Read,
    ) -> None:
        """The AGC associations of the cluster (from its latest agent report's
        ApplicationLoadBalancer objects, and from ARM for the traffic controllers its
        Gateways name) and the subnets they use."""
        report = self._latest_report(inventory.arm_resource_id.lower())
        associations = agc_associations.from_load_balancers(report)
        for controller_id in agc_associations.traffic_controllers(report):
            client = self._network(convert.resource_id_part(controller_id, "subscriptions"))
            read = partial(agc_associations.read_associations, client, controller_id)
            listing = agc_associations.listing_id(controller_id)
            associations.extend(self._attempt(gaps, state, listing, read) or ())
        inventory.agc_associations.extend(associations)
        have = {subnet.id.lower() for subnet in inventory.subnets}
        for subnet_id in unique_ids(a.subnet_id for a in associations):
            if subnet_id.lower() in have:
                continue
            subnet = self._attempt(gaps, state, subnet_id, partial(self._subnet, subnet_id))
            if subnet is not None:
                inventory.subnets.append(subnet)

    # -- private DNS zones --------------------------------------------------------------

    def _subscription_zones(self, subscription_id: str, state: _Read) -> list[Payload]:
        """The subscription's private zones, listed once per refresh; unreadable ones are
        an empty list (each cluster then names the gap when it needs a zone)."""
        key = f"zones:{subscription_id.lower()}"
        if key not in state.values:
            try:
                state.values[key] = [
                    z.as_dict() for z in self._dns(subscription_id).private_zones.list()
                ]
            except ClientAuthenticationError:
                raise
            except HttpResponseError as exc:
                state.failures[key] = _gap(
                    f"/subscriptions/{subscription_id}/providers/Microsoft.Network/privateDnsZones",
                    exc,
                )
                state.values[key] = []
        zones: list[Payload] = state.values[key]
        return zones

    def _relevant_zones(
        self,
        inventory: inventory_pb2.ClusterInventory,
        subscription_zones: list[Payload],
        gaps: list[inventory_pb2.InventoryGap],
        state: _Read,
    ) -> Iterable[inventory_pb2.PrivateDnsZone]:
        """The custom API server zone; for ``system`` private clusters, the zones in the node
        resource group (A-PRV: AKS creates it there); and zones of the subscription linked to
        one of the cluster's VNets (where its names resolve)."""
        listing_gap = state.failures.get(f"zones:{inventory.subscription_id.lower()}")
        if listing_gap is not None:
            gaps.append(listing_gap)
        access = inventory.api_server_access
        wanted: dict[str, Payload | None] = {}
        if access.private_dns_zone.startswith("/"):
            wanted[access.private_dns_zone.lower()] = None
        system = access.enable_private_cluster and access.private_dns_zone.lower() in {"", "system"}
        vnets = {v.id.lower() for v in inventory.virtual_networks}
        for listed in subscription_zones:
            zone_id = str(listed.get("id", ""))
            group = convert.resource_id_part(zone_id, "resourceGroups").lower()
            in_node_group = system and group == inventory.node_resource_group.lower()
            links = self._zone_links(zone_id, gaps, state)
            linked = any(
                convert.Fields(link).child("virtualNetwork").text("id").lower() in vnets
                for link in links or ()
            )
            if in_node_group or linked or zone_id.lower() in wanted:
                wanted[zone_id.lower()] = listed
        for zone_id, zone_payload in wanted.items():
            links = self._zone_links(zone_id, gaps, state)
            read_zone = partial(self._zone, zone_id, zone_payload, links or [])
            zone = self._attempt(gaps, state, zone_id, read_zone)
            if zone is not None:
                yield zone

    def _external_dns_zones(
        self,
        inventory: inventory_pb2.ClusterInventory,
        gaps: list[inventory_pb2.InventoryGap],
        state: _Read,
    ) -> None:
        """The private zones each ``azure-private-dns`` ExternalDNS instance of the cluster
        (from its latest agent report) selects, linked to the cluster or not (EDN-004 is
        about the unlinked ones), and the public zones each ``azure``/``azure-dns`` one
        selects; each zone names the instances that select it."""
        report = self._latest_report(inventory.arm_resource_id.lower())
        selections = zone_selections(report, inventory.subscription_id)
        inventory.external_dns_zone_selections.extend(selections)
        for selection in selections:
            if is_public(selection):
                self._public_zones(inventory, selection, gaps, state)
                continue
            subscription_zones = self._subscription_zones(selection.subscription_id, state)
            listing_gap = state.failures.get(f"zones:{selection.subscription_id.lower()}")
            if listing_gap is not None:
                gaps.append(listing_gap)
            for listed in subscription_zones:
                zone_id = str(listed.get("id", ""))
                name = convert.Fields(listed).top("name") or ""
                if selects(selection, zone_id, str(name)):
                    read_zone = partial(self._linked_zone, zone_id, listed, gaps, state)
                    held = inventory.private_dns_zones
                    self._mark_zone(held, zone_id, read_zone, selection.instance, gaps, state)

    def _linked_zone(
        self, zone_id: str, listed: Payload, gaps: list[inventory_pb2.InventoryGap], state: _Read
    ) -> inventory_pb2.PrivateDnsZone:
        links = self._zone_links(zone_id, gaps, state)
        return self._zone(zone_id, listed, links or [])

    def _mark_zone(
        self,
        zones: MutableSequence[Zone],
        zone_id: str,
        read_zone: Callable[[], Zone],
        instance: str,
        gaps: list[inventory_pb2.InventoryGap],
        state: _Read,
    ) -> None:
        """Name ``instance`` on the zone, reading it first when the cluster does not hold it
        yet. The zone read is shared by the refresh, so the mark goes on the cluster's copy."""
        held = next((z for z in zones if z.id.lower() == zone_id.lower()), None)
        if held is None:
            zone = self._attempt(gaps, state, zone_id, read_zone)
            if zone is None:
                return
            zones.append(zone)
            held = zones[-1]
        if instance not in held.external_dns_instances:
            held.external_dns_instances.append(instance)

    def _zone_links(
        self, zone_id: str, gaps: list[inventory_pb2.InventoryGap], state: _Read
    ) -> list[Payload] | None:
        return self._attempt(
            gaps, state, f"{zone_id}/virtualNetworkLinks", partial(self._links, zone_id)
        )

    def _links(self, zone_id: str) -> list[Payload]:
        dns = self._dns(convert.resource_id_part(zone_id, "subscriptions"))
        return [
            link.as_dict()
            for link in dns.virtual_network_links.list(
                convert.resource_id_part(zone_id, "resourceGroups"),
                convert.resource_id_part(zone_id, "privateDnsZones"),
            )
        ]

    def _zone(
        self, zone_id: str, listed: Payload | None, links: list[Payload]
    ) -> inventory_pb2.PrivateDnsZone:
        dns = self._dns(convert.resource_id_part(zone_id, "subscriptions"))
        group = convert.resource_id_part(zone_id, "resourceGroups")
        name = convert.resource_id_part(zone_id, "privateDnsZones")
        body = listed if listed is not None else dns.private_zones.get(group, name).as_dict()
        records = [r.as_dict() for r in dns.record_sets.list(group, name)]
        return convert.private_dns_zone(body, links, records)

    # -- public DNS zones ---------------------------------------------------------------

    def _public_zones(
        self,
        inventory: inventory_pb2.ClusterInventory,
        selection: inventory_pb2.ExternalDnsZoneSelection,
        gaps: list[inventory_pb2.InventoryGap],
        state: _Read,
    ) -> None:
        """The public zones an ``azure`` instance selects, with their record sets. ExternalDNS
        lists the zones of its resource group; without ``--azure-resource-group`` (it may be
        in azure.json) the subscription's zones are listed. A listing ARM refuses is a gap on
        the cluster, never "no zones"."""
        subscription_id, group = selection.subscription_id, selection.resource_group
        listing = f"/subscriptions/{subscription_id}" + (
            f"/resourceGroups/{group}" if group else ""
        )
        listing += "/providers/Microsoft.Network/dnsZones"
        read_list = partial(self._list_public_zones, subscription_id, group)
        for listed in self._attempt(gaps, state, listing, read_list) or ():
            zone_id = str(listed.get("id", ""))
            if selects(selection, zone_id, str(convert.Fields(listed).top("name") or "")):
                read_zone = partial(self._public_zone, zone_id, listed)
                held = inventory.public_dns_zones
                self._mark_zone(held, zone_id, read_zone, selection.instance, gaps, state)

    def _list_public_zones(self, subscription_id: str, group: str) -> list[Payload]:
        zones = self._public_dns(subscription_id).zones
        listed = zones.list_by_resource_group(group) if group else zones.list()
        return [dict(zone.as_dict()) for zone in listed]

    def _public_zone(self, zone_id: str, listed: Payload) -> inventory_pb2.PublicDnsZone:
        """The zone with every record set (``/all``, as ExternalDNS lists them)."""
        dns = self._public_dns(convert.resource_id_part(zone_id, "subscriptions"))
        records = dns.record_sets.list_all_by_dns_zone(
            convert.resource_id_part(zone_id, "resourceGroups"),
            convert.resource_id_part(zone_id, "dnsZones"),
        )
        return convert.public_dns_zone(listed, [r.as_dict() for r in records])

    # -- failures -----------------------------------------------------------------------

    def _attempt(
        self,
        gaps: list[inventory_pb2.InventoryGap],
        state: _Read,
        resource_id: str,
        read: Callable[[], T],
    ) -> T | None:
        """``read()`` once per refresh; an ARM error answer or a response that never came
        becomes a gap on this cluster. Authentication failures and unreachable endpoints
        propagate: they are not about one resource."""
        key = resource_id.lower()
        if key in state.failures:
            gaps.append(state.failures[key])
            return None
        if key not in state.values:
            try:
                state.values[key] = read()
            except ClientAuthenticationError as exc:
                if not _is_http_401(exc):
                    raise
                state.failures[key] = _gap(resource_id, exc)
            except HttpResponseError as exc:
                state.failures[key] = _gap(resource_id, exc)
            except ServiceResponseError as exc:
                # The endpoint answered other requests; this one timed out or broke off.
                state.failures[key] = inventory_pb2.InventoryGap(
                    resource_id=resource_id, reason="timeout", message=_first_line(exc)
                )
            if key in state.failures:
                logger.warning("cannot read %s: %s", resource_id, state.failures[key].message)
                gaps.append(state.failures[key])
                return None
        value: T = state.values[key]
        return value


def _subscription_reason(error: ArmError) -> str:
    if isinstance(error, SubscriptionAccessDenied):
        return "forbidden"
    if isinstance(error, UnknownSubscriptionError):
        return "not_found"
    if isinstance(error, TransientArmError):
        return "throttled" if "429" in str(error) else "error"
    return "error"


def _gap(resource_id: str, exc: HttpResponseError) -> inventory_pb2.InventoryGap:
    status = exc.status_code
    reason = {403: "forbidden", 404: "not_found", 429: "throttled", 401: "unauthorized"}.get(
        status or 0, "error"
    )
    return inventory_pb2.InventoryGap(
        resource_id=resource_id,
        reason=reason,
        message=f"{status} {_error_code(exc)}: {_first_line(exc)}",
    )


def _error_code(exc: HttpResponseError) -> str:
    error = getattr(exc, "error", None)
    code = getattr(error, "code", None)
    return str(code) if code else (exc.reason or "error")


def _first_line(exc: Exception) -> str:
    error = getattr(exc, "error", None)
    message = str(getattr(error, "message", None) or getattr(exc, "message", None) or exc).strip()
    return message.splitlines()[0].rstrip(".") if message else type(exc).__name__


def _is_tls_failure(exc: BaseException) -> bool:
    """Certificate verification failed somewhere in the chain (ARM or the authority)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(
            seen
        ):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _is_http_401(exc: ClientAuthenticationError) -> bool:
    """A 401 answer from ARM (azure-core raises ClientAuthenticationError for it), as
    opposed to a token that could not be obtained at all."""
    response = exc.response
    if response is None or exc.status_code != 401:
        return False
    # azure-identity attaches the identity provider's own 401 (a refused secret,
    # certificate or federated token) to the same exception type
    request = getattr(response, "request", None)
    return "/oauth2/" not in str(getattr(request, "url", ""))
