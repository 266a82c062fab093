"""What one ExternalDNS instance watches and publishes, from the flags the agent read
(kubernetes-sigs/external-dns ``docs/flags.md``, ``endpoint/domain_filter.go``,
``source/gateway.go``; domain.md §4.5): its sources, domain filters, namespace and
Gateway filters, and the annotation prefix, which depends on its version unless
``--annotation-prefix`` sets it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from netaudit.v1 import report_pb2


class InvalidScope(ValueError):
    """A flag value ExternalDNS itself would refuse (a regex that does not compile)."""


GA_PREFIX = "external-dns.kubernetes.io/"
ALPHA_PREFIX = "external-dns.alpha.kubernetes.io/"
GA_PREFIX_SINCE = (0, 22)
"""v0.22.0 made ``external-dns.kubernetes.io/`` the default, with no fallback (#6424);
through v0.21 the default was ``external-dns.alpha.kubernetes.io/`` (domain.md §4.5)."""
LEGACY_PREFIX_FLAG = "enable-legacy-annotation-prefix"
"""v0.23: also read ``external-dns.alpha.kubernetes.io/`` annotations as the configured prefix."""

GATEWAY_GROUP = "gateway.networking.k8s.io"
SOURCE_OF_KIND = {
    "Service": "service",
    "Ingress": "ingress",
    "HTTPRoute": "gateway-httproute",
    "GRPCRoute": "gateway-grpcroute",
    "TLSRoute": "gateway-tlsroute",
    "TCPRoute": "gateway-tcproute",
    "UDPRoute": "gateway-udproute",
}
VERSION = re.compile(r"^v?(\d+)\.(\d+)")


def parse_flags(args: Sequence[str]) -> dict[str, list[str]]:
    """``--name=value`` and ``--name value`` flags of a command line, every value kept."""
    flags: dict[str, list[str]] = {}
    index = 0
    while index < len(args):
        argument = args[index]
        index += 1
        if not argument.startswith("--"):
            continue
        name, has_value, value = argument[2:].partition("=")
        if not has_value:
            if index < len(args) and not args[index].startswith("-"):
                value, index = args[index], index + 1
            else:
                value = "true"
        flags.setdefault(name, []).append(value)
    return flags


def _split(values: Iterable[str]) -> tuple[str, ...]:
    """Domain filter values, comma-separated or repeated, normalised like ExternalDNS's
    ``endpoint.NewDomainFilter`` (lower case, no trailing dot)."""
    return tuple(
        part.strip().lower().rstrip(".")
        for value in values
        for part in value.split(",")
        if part.strip()
    )


def _match(filters: Sequence[str], hostname: str) -> bool:
    """ExternalDNS ``matchFilter``: ``example.com`` matches itself and its subdomains,
    ``.example.com`` only its subdomains."""
    domain = hostname.lower().rstrip(".")
    for domain_filter in filters:
        if domain_filter.startswith("."):
            if domain.endswith(domain_filter):
                return True
        elif domain == domain_filter or domain.endswith("." + domain_filter):
            return True
    return False


@dataclass(frozen=True)
class InstanceScope:
    """One ExternalDNS Deployment as its flags configure it."""

    name: str
    version: str
    sources: frozenset[str]
    domain_filters: tuple[str, ...]
    exclude_domains: tuple[str, ...]
    regex_filter: re.Pattern[str] | None
    regex_exclusion: re.Pattern[str] | None
    namespace: str
    gateway_name: str
    gateway_namespace: str
    prefixes: frozenset[str] | None
    """Annotation prefixes it reads; None when neither the flag nor the version tells."""
    explicit_prefix: bool
    ignore_hostname_annotation: bool

    def watches(self, kind: str, namespace: str) -> bool:
        source = SOURCE_OF_KIND.get(kind)
        return source in self.sources and (not self.namespace or namespace == self.namespace)

    def publishes(self, hostname: str) -> bool:
        """ExternalDNS ``DomainFilter.Match``: regex filters when set, else the domain
        filters (all names when none) minus the excluded domains."""
        if self.regex_filter is not None or self.regex_exclusion is not None:
            domain = hostname.lower().rstrip(".")
            if self.regex_exclusion is not None and self.regex_exclusion.search(domain):
                return False
            return self.regex_filter is None or bool(self.regex_filter.search(domain))
        included = not self.domain_filters or _match(self.domain_filters, hostname)
        return included and not _match(self.exclude_domains, hostname)

    def gateway_in_scope(self, parent: report_pb2.ObjectReference) -> bool:
        return (not self.gateway_namespace or parent.namespace == self.gateway_namespace) and (
            not self.gateway_name or parent.name == self.gateway_name
        )

    def hostname_annotations(self) -> frozenset[str]:
        """Annotation keys it reads hostnames from (both prefixes when it is unknown which)."""
        if self.ignore_hostname_annotation:
            return frozenset()
        prefixes = self.prefixes if self.prefixes is not None else {GA_PREFIX, ALPHA_PREFIX}
        return frozenset(f"{prefix}hostname" for prefix in prefixes)


def version_default_prefix(version: str) -> str | None:
    """The default annotation prefix of an ExternalDNS version (image tag), None if unknown."""
    match = VERSION.match(version)
    if match is None:
        return None
    numbers = (int(match.group(1)), int(match.group(2)))
    return GA_PREFIX if numbers >= GA_PREFIX_SINCE else ALPHA_PREFIX


def instance_scope(instance: report_pb2.ExternalDnsInstance) -> InstanceScope:
    """The instance's scope; :class:`InvalidScope` when a regex filter does not compile."""
    flags = parse_flags(list(instance.workload.args))
    workload = instance.workload
    name = f"{workload.namespace}/{workload.name}"
    prefix = instance.annotation_prefix or version_default_prefix(instance.version)
    prefixes: frozenset[str] | None = None
    if prefix is not None:
        prefixes = frozenset({prefix})
        if _enabled(flags.get(LEGACY_PREFIX_FLAG)):
            prefixes |= {ALPHA_PREFIX}

    def last(flag: str) -> str:
        return flags.get(flag, [""])[-1]

    return InstanceScope(
        name=name,
        version=instance.version,
        sources=frozenset(instance.sources),
        domain_filters=_split(instance.domain_filters),
        exclude_domains=_split(flags.get("exclude-domains", [])),
        regex_filter=_regex(name, "regex-domain-filter", last("regex-domain-filter")),
        regex_exclusion=_regex(name, "regex-domain-exclusion", last("regex-domain-exclusion")),
        namespace=last("namespace"),
        gateway_name=last("gateway-name"),
        gateway_namespace=last("gateway-namespace"),
        prefixes=prefixes,
        explicit_prefix=bool(instance.annotation_prefix),
        ignore_hostname_annotation=_enabled(flags.get("ignore-hostname-annotation")),
    )


def _enabled(values: list[str] | None) -> bool:
    """A boolean flag: given without a value or with one other than false."""
    return values is not None and values[-1].lower() not in {"false", "0"}


def _regex(instance: str, flag: str, pattern: str) -> re.Pattern[str] | None:
    if not pattern:
        return None
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise InvalidScope(
            f"ExternalDNS {instance}: --{flag} {pattern!r} is not a regex: {exc}"
        ) from exc
