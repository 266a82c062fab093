"""The CoreDNS configuration of one cluster, parsed once: the main Corefile and every
``coredns-custom`` key, with a parse error kept per key instead of a silent skip.

AKS imports ``custom/*.override`` inside its default ``.:53`` block and
``custom/*.server`` at the top level; other keys are not imported (A-CDC).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from netaudit.collector.analysis.corefile import (
    Corefile,
    CorefileError,
    Directive,
    ServerBlock,
    expand_imports,
    matching_custom_keys,
    parse_corefile,
    parse_directives,
)
from netaudit.v1 import report_pb2

SERVER_SUFFIX = ".server"
OVERRIDE_SUFFIX = ".override"

AKS_DEFAULT_PLUGINS = (
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
"""The plugins of AKS's default ``.:53`` block (domain.md §3.1, A-CDC)."""

AKS_DEFAULT_BLOCK = ServerBlock(
    keys=(".:53",),
    directives=tuple(Directive(name, (), 0) for name in AKS_DEFAULT_PLUGINS),
    line=0,
)
"""AKS's default block, used when the agent did not send the coredns ConfigMap's Corefile."""


class FragmentKind(StrEnum):
    SERVER = "server"
    OVERRIDE = "override"
    IGNORED = "ignored"


class MainSource(StrEnum):
    CONFIGMAP = "corefile"
    AKS_DEFAULT = "aks-default"


@dataclass(frozen=True)
class Fragment:
    """One key of ``coredns-custom``: server blocks (``*.server``) or plugin lines
    (``*.override``), or the parse error that keeps it from loading."""

    key: str
    kind: FragmentKind
    directives: tuple[Directive, ...] = ()
    blocks: tuple[ServerBlock, ...] = ()
    error: str | None = None


@dataclass(frozen=True)
class CorednsConfig:
    main_blocks: tuple[ServerBlock, ...]
    """Server blocks of the main Corefile with snippets expanded (not coredns-custom keys)."""
    main_source: MainSource
    main_error: str | None
    fragments: tuple[Fragment, ...]
    override_blocks: dict[str, tuple[ServerBlock, ...]]
    """coredns-custom key -> the main server blocks whose ``import`` glob selects it."""
    server_keys: tuple[str, ...] = ()
    """coredns-custom keys a top-level ``import`` of the main Corefile loads as server
    blocks (AKS: ``import custom/*.server``), in the order CoreDNS reads them."""

    def fragment(self, key: str) -> Fragment | None:
        return next((f for f in self.fragments if f.key == key), None)

    def of_kind(self, kind: FragmentKind) -> list[Fragment]:
        return [f for f in self.fragments if f.kind is kind]

    def loaded(self, kind: FragmentKind) -> list[Fragment]:
        """Fragments of ``kind`` that parse and that the main Corefile imports: ``*.server``
        keys at the top level, ``*.override`` keys inside at least one server block."""
        imported = (
            set(self.server_keys) if kind is FragmentKind.SERVER else set(self.override_blocks)
        )
        return [f for f in self.of_kind(kind) if f.error is None and f.key in imported]

    def parse_errors(self, *kinds: FragmentKind) -> list[str]:
        """``key: error`` for every fragment of the given kinds that does not parse."""
        return [f"{f.key}: {f.error}" for f in self.fragments if f.error and f.kind in kinds]


def fragment_kind(key: str) -> FragmentKind:
    if key.endswith(SERVER_SUFFIX):
        return FragmentKind.SERVER
    if key.endswith(OVERRIDE_SUFFIX):
        return FragmentKind.OVERRIDE
    return FragmentKind.IGNORED


def coredns_config(evidence: report_pb2.CoreDns) -> CorednsConfig:
    texts = {fragment.key: fragment.content for fragment in evidence.custom}
    fragments = tuple(_fragment(key, texts[key]) for key in sorted(texts))
    main, source, error = _main_corefile(evidence.corefile)
    blocks: list[ServerBlock] = []
    override_blocks: dict[str, list[ServerBlock]] = {}
    for block in main.server_blocks:
        expanded = ServerBlock(block.keys, _expand_snippets(block, main), block.line)
        blocks.append(expanded)
        imported = {
            key: None
            for pattern in _import_targets(block.directives, main.snippets)
            for key in sorted(matching_custom_keys(pattern, texts))
        }
        for key in imported:
            override_blocks.setdefault(key, []).append(expanded)
    server_keys = [
        key for pattern in main.imports for key in sorted(matching_custom_keys(pattern, texts))
    ]
    return CorednsConfig(
        main_blocks=tuple(blocks),
        main_source=source,
        main_error=error,
        fragments=fragments,
        override_blocks={key: tuple(value) for key, value in override_blocks.items()},
        server_keys=tuple(dict.fromkeys(server_keys)),
    )


def _fragment(key: str, text: str) -> Fragment:
    kind = fragment_kind(key)
    try:
        if kind is FragmentKind.SERVER:
            parsed = parse_corefile(text)
            blocks = tuple(
                ServerBlock(b.keys, expand_imports(b.directives, parsed.snippets, {}), b.line)
                for b in parsed.server_blocks
            )
            return Fragment(key, kind, blocks=blocks)
        if kind is FragmentKind.OVERRIDE:
            return Fragment(key, kind, directives=parse_directives(text))
    except CorefileError as exc:
        return Fragment(key, kind, error=str(exc))
    return Fragment(key, kind)


def _main_corefile(text: str) -> tuple[Corefile, MainSource, str | None]:
    """The ConfigMap's Corefile when it parses, else AKS's default (and the error)."""
    if text.strip():
        try:
            return parse_corefile(text), MainSource.CONFIGMAP, None
        except CorefileError as exc:
            default = _aks_default()
            return default, MainSource.AKS_DEFAULT, str(exc)
    return _aks_default(), MainSource.AKS_DEFAULT, None


def _aks_default() -> Corefile:
    import_overrides = Directive("import", ("custom/*.override",), 0)
    block = ServerBlock(
        AKS_DEFAULT_BLOCK.keys, (*AKS_DEFAULT_BLOCK.directives, import_overrides), 0
    )
    return Corefile((block,), {}, ("custom/*.server",))


def _import_targets(
    directives: Sequence[Directive],
    snippets: Mapping[str, Sequence[Directive]],
    seen: frozenset[str] = frozenset(),
) -> list[str]:
    """What a block's ``import`` lines name, looking through snippets (and snippets those
    import): the ``custom/`` globs that splice coredns-custom keys into the block."""
    targets: list[str] = []
    for directive in directives:
        if directive.name != "import":
            continue
        for target in directive.args:
            if target in snippets and target not in seen:
                targets += _import_targets(snippets[target], snippets, seen | {target})
            else:
                targets.append(target)
    return targets


def _expand_snippets(block: ServerBlock, corefile: Corefile) -> tuple[Directive, ...]:
    """The block's directives with snippet imports expanded (nested ones too); ``custom/``
    imports are left out, :attr:`CorednsConfig.override_blocks` records them."""
    try:
        return expand_imports(block.directives, corefile.snippets, {})
    except CorefileError:
        return block.directives
