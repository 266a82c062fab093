"""CoreDNS rules: single-instance plugins repeated through coredns-custom (DNS-002)."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping

from netaudit.collector.analysis.corefile import (
    CorefileError,
    Directive,
    ServerBlock,
    expand_imports,
    matching_custom_keys,
    parse_corefile,
    parse_directives,
)
from netaudit.collector.rules.rule import DataSource, Rule
from netaudit.collector.rules.settings import RuleSettings
from netaudit.v1 import audit_pb2

logger = logging.getLogger(__name__)

OVERRIDE_SUFFIX = ".override"
CUSTOM_CONFIGMAP = "kube-system/coredns-custom"

ALWAYS_DUPLICATE = frozenset({"forward", "prometheus"})
"""``forward`` in an override is a confirmed reload failure (Azure/AKS#2623, coredns#4729);
``prometheus`` "can only be used once per Server Block" (CD-MET)."""

DUPLICATE_IF_IN_DEFAULT = frozenset(
    {"kubernetes", "cache", "loop", "health", "ready", "reload", "loadbalance"}
)
"""Single-instance plugins flagged when the default block already has them (domain.md §5)."""

AKS_DEFAULT_BLOCK = ServerBlock(
    keys=(".:53",),
    directives=tuple(
        Directive(name, (), 0)
        for name in (
            "errors",
            "ready",
            "health",
            "kubernetes",
            "prometheus",
            "forward",
            "cache",
            "loop",
            "reload",
            "loadbalance",
            "template",
        )
    ),
    line=0,
)
"""The plugins of AKS's default ``.:53`` block (domain.md §3.1, A-CDC), used when the
agent did not send the coredns ConfigMap's Corefile."""


def _duplicate_plugin_in_override(
    rule: Rule, facts: audit_pb2.ClusterFacts, settings: RuleSettings
) -> Iterator[audit_pb2.Finding]:
    """Any ``*.override`` with forward or prometheus, or with another single-instance
    plugin the server block it is spliced into already has (domain.md §5 DNS-002)."""
    if not facts.HasField("report"):
        return
    coredns = facts.report.coredns
    fragments = {fragment.key: fragment.content for fragment in coredns.custom}
    blocks, source = _blocks_importing_overrides(coredns.corefile, fragments)
    for key in sorted(fragments):
        if not key.endswith(OVERRIDE_SUFFIX):
            continue
        try:
            directives = parse_directives(fragments[key])
        except CorefileError as exc:
            logger.debug("coredns-custom key %s does not parse: %s", key, exc)
            continue
        for block in blocks.get(key, ()):
            duplicates = _duplicates(directives, block)
            if duplicates:
                yield _finding(rule, facts, key, block, duplicates, source)


def _blocks_importing_overrides(
    corefile_text: str, fragments: Mapping[str, str]
) -> tuple[dict[str, list[ServerBlock]], str]:
    """coredns-custom key -> the server blocks whose ``import custom/…`` glob selects it."""
    if corefile_text.strip():
        try:
            corefile = parse_corefile(corefile_text)
        except CorefileError as exc:
            logger.debug("Corefile does not parse, assuming the AKS default: %s", exc)
        else:
            blocks: dict[str, list[ServerBlock]] = {}
            for block in corefile.server_blocks:
                expanded = ServerBlock(
                    block.keys, expand_imports(block.directives, corefile.snippets, {}), block.line
                )
                for directive in block.directives:
                    if directive.name != "import":
                        continue
                    for pattern in directive.args:
                        for key in matching_custom_keys(pattern, fragments):
                            blocks.setdefault(key, []).append(expanded)
            return blocks, "corefile"
    overrides = [key for key in fragments if key.endswith(OVERRIDE_SUFFIX)]
    return {key: [AKS_DEFAULT_BLOCK] for key in overrides}, "aks-default"


def _duplicates(directives: tuple[Directive, ...], block: ServerBlock) -> list[Directive]:
    present = {d.name for d in block.directives if d.name != "import"}
    return [
        d
        for d in directives
        if d.name in ALWAYS_DUPLICATE or (d.name in DUPLICATE_IF_IN_DEFAULT and d.name in present)
    ]


def _finding(
    rule: Rule,
    facts: audit_pb2.ClusterFacts,
    key: str,
    block: ServerBlock,
    duplicates: list[Directive],
    source: str,
) -> audit_pb2.Finding:
    names = sorted({d.name for d in duplicates})
    where = ", ".join(f"{d.name} (line {d.line})" for d in duplicates)
    server = " ".join(block.keys)
    evidence: dict[str, object] = {
        "key": key,
        "plugins": ",".join(names),
        "server_block": server,
        "default_block_from": source,
    }
    for directive in duplicates:
        evidence[f"{directive.name}.line"] = directive.line
        evidence[f"{directive.name}.args"] = " ".join(directive.args)
    return rule.finding(
        facts,
        resource=f"{CUSTOM_CONFIGMAP}/{key}",
        message=f"coredns-custom key {key} adds {where} to server block {server}, which may "
        "hold each of these plugins once: CoreDNS fails to load the config "
        "('this plugin can only be used once per Server Block') and keeps the old one",
        evidence=evidence,
    )


DNS_002 = Rule(
    id="DNS-002",
    title="Duplicate plugin in override",
    severity=audit_pb2.SEVERITY_CRITICAL,
    rationale="Lines of a *.override key are spliced into AKS's default .:53 server block, "
    "which already runs forward, prometheus, cache, kubernetes and the other single-instance "
    "plugins; a second one makes CoreDNS refuse the configuration, so the customisation "
    "never applies and restarted pods can fail to start.",
    remediation="Move the plugin into a *.server key with its own server block for the zone "
    "it serves (e.g. 'example.com:53 { forward . 10.0.0.4 }'), or delete the key; then "
    "restart CoreDNS: kubectl -n kube-system rollout restart deployment coredns.",
    references=(
        "https://learn.microsoft.com/azure/aks/coredns-custom",
        "https://github.com/Azure/AKS/issues/2623",
        "https://github.com/coredns/coredns/issues/4729",
    ),
    data_source=DataSource.AGENT,
    check=_duplicate_plugin_in_override,
)
