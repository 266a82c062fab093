"""A small Corefile parser: server blocks, directives with nested blocks, snippets, imports.

It follows the Caddyfile lexing CoreDNS uses (coredns/coredns ``corefile.5.md``):
tokens split on whitespace, ``"…"`` quotes a token, ``#`` starting a token
comments out the rest of the line, and only a token that *is* ``{`` or ``}``
opens or closes a block, so ``{1}`` in a rewrite rule or ``{$ENV}`` are plain
arguments. ``(name) { … }`` defines a snippet; ``import`` pulls in a snippet
or, in AKS, the ``coredns-custom`` keys mounted under ``custom/`` (A-CDC).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

CUSTOM_DIR = "custom/"
"""AKS mounts ConfigMap coredns-custom at custom/ next to the Corefile (A-CDC)."""

DEFAULT_TRANSPORT = "dns"
TRANSPORT_PORTS = {"dns": "53", "tls": "853", "quic": "853", "grpc": "443", "https": "443"}
"""The port a server block key without one listens on, by transport (coredns/coredns
``core/dnsserver/register.go`` and ``plugin/pkg/transport``)."""


class CorefileError(ValueError):
    """The text is not a well-formed Corefile (unbalanced braces, stray tokens)."""


@dataclass(frozen=True)
class Token:
    text: str
    line: int
    quoted: bool = False

    @property
    def opens(self) -> bool:
        return not self.quoted and self.text == "{"

    @property
    def closes(self) -> bool:
        return not self.quoted and self.text == "}"


@dataclass(frozen=True)
class Directive:
    """A plugin line (``forward . 1.2.3.4``) with its optional ``{ … }`` block."""

    name: str
    args: tuple[str, ...]
    line: int
    block: tuple[Directive, ...] = ()


@dataclass(frozen=True)
class ServerBlock:
    """``zone[:port] … { directives }``; keys as written (``.:53``, ``example.org``)."""

    keys: tuple[str, ...]
    directives: tuple[Directive, ...]
    line: int

    def plugin_names(self) -> list[str]:
        return [d.name for d in self.directives]


@dataclass(frozen=True)
class Corefile:
    server_blocks: tuple[ServerBlock, ...]
    snippets: Mapping[str, tuple[Directive, ...]] = field(default_factory=dict)
    # Top-level ``import`` arguments (AKS: ``custom/*.server``), in order.
    imports: tuple[str, ...] = ()


def tokenize(text: str) -> list[Token]:
    """Split Corefile text into tokens, dropping comments."""
    tokens: list[Token] = []
    for number, line in enumerate(text.splitlines(), start=1):
        tokens.extend(_line_tokens(line, number))
    return tokens


def _line_tokens(line: str, number: int) -> Iterator[Token]:
    i = 0
    while i < len(line):
        char = line[i]
        if char.isspace():
            i += 1
        elif char == "#":
            return
        elif char == '"':
            end, text = _quoted(line, i + 1, number)
            yield Token(text, number, quoted=True)
            i = end
        else:
            start = i
            while i < len(line) and not line[i].isspace():
                i += 1
            yield Token(line[start:i], number)


def _quoted(line: str, start: int, number: int) -> tuple[int, str]:
    chars = []
    i = start
    while i < len(line):
        if line[i] == "\\" and i + 1 < len(line) and line[i + 1] == '"':
            chars.append('"')
            i += 2
        elif line[i] == '"':
            return i + 1, "".join(chars)
        else:
            chars.append(line[i])
            i += 1
    raise CorefileError(f"line {number}: unterminated quote")


def parse_corefile(text: str) -> Corefile:
    """Parse a whole Corefile (or a ``*.server`` fragment) into server blocks."""
    tokens = tokenize(text)
    blocks: list[ServerBlock] = []
    snippets: dict[str, tuple[Directive, ...]] = {}
    imports: list[str] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token.text == "import" and not token.quoted:
            line_end = _line_end(tokens, i)
            imports.extend(t.text for t in tokens[i + 1 : line_end])
            i = line_end
            continue
        keys, i = _server_keys(tokens, i)
        body, i = _block(tokens, i)
        if len(keys) == 1 and keys[0].text.startswith("(") and keys[0].text.endswith(")"):
            snippets[keys[0].text[1:-1]] = body
        else:
            blocks.append(ServerBlock(tuple(_split_keys(keys)), body, keys[0].line))
    return Corefile(tuple(blocks), snippets, tuple(imports))


def parse_directives(text: str) -> tuple[Directive, ...]:
    """Parse a ``*.override`` fragment: plugin lines that AKS splices into ``.:53``."""
    tokens = tokenize(text)
    directives, end = _directives(tokens, 0)
    if end != len(tokens):
        raise CorefileError(f"line {tokens[end].line}: unexpected '}}'")
    return directives


def _server_keys(tokens: Sequence[Token], i: int) -> tuple[list[Token], int]:
    keys: list[Token] = []
    while i < len(tokens) and not tokens[i].opens:
        if tokens[i].closes:
            raise CorefileError(f"line {tokens[i].line}: unexpected '}}'")
        keys.append(tokens[i])
        i += 1
    if i == len(tokens):
        where = keys[0].line if keys else "end"
        raise CorefileError(f"line {where}: server block {_text(keys)!r} has no '{{'")
    return keys, i


def _block(tokens: Sequence[Token], i: int) -> tuple[tuple[Directive, ...], int]:
    """Parse ``{ … }`` starting at the opening brace; return the body and the index after it."""
    opening = tokens[i]
    body, i = _directives(tokens, i + 1)
    if i == len(tokens):
        raise CorefileError(f"line {opening.line}: '{{' is never closed")
    return body, i + 1


def _directives(tokens: Sequence[Token], i: int) -> tuple[tuple[Directive, ...], int]:
    """Directives until the matching ``}`` (not consumed) or the end of the tokens."""
    directives: list[Directive] = []
    while i < len(tokens) and not tokens[i].closes:
        if tokens[i].opens:
            raise CorefileError(f"line {tokens[i].line}: '{{' without a directive")
        line_end = _line_end(tokens, i)
        name, *args = tokens[i:line_end]
        block: tuple[Directive, ...] = ()
        if args and args[-1].opens:
            args.pop()
            block, line_end = _block(tokens, line_end - 1)
        elif line_end < len(tokens) and tokens[line_end].opens:
            block, line_end = _block(tokens, line_end)
        directives.append(Directive(name.text, tuple(a.text for a in args), name.line, block))
        i = line_end
    return tuple(directives), i


def _line_end(tokens: Sequence[Token], i: int) -> int:
    """Index after the last token on token ``i``'s line that belongs to the directive:
    the line's tokens up to and including an opening brace, excluding a closing one."""
    line = tokens[i].line
    j = i
    while j < len(tokens) and tokens[j].line == line and not tokens[j].closes:
        j += 1
        if tokens[j - 1].opens:
            break
    return j


def _split_keys(keys: Sequence[Token]) -> Iterator[str]:
    for key in keys:
        yield from (part for part in key.text.split(",") if part)


def _text(tokens: Sequence[Token]) -> str:
    return " ".join(t.text for t in tokens)


def expand_imports(
    directives: Sequence[Directive],
    snippets: Mapping[str, Sequence[Directive]],
    fragments: Mapping[str, str],
    _seen: frozenset[str] = frozenset(),
) -> tuple[Directive, ...]:
    """Replace ``import`` lines by the snippet or the ``coredns-custom`` keys they name.

    ``fragments`` maps a coredns-custom key (``upstream.override``) to its text;
    ``import custom/*.override`` matches keys by glob, in key order (CoreDNS
    expands globs sorted). Imported snippets and fragments are expanded in turn
    (a snippet may import a snippet); an import cycle is a :class:`CorefileError`,
    as CoreDNS refuses it too. A fragment that does not parse raises
    :class:`CorefileError` naming its key.
    """
    expanded: list[Directive] = []
    for directive in directives:
        if directive.name != "import" or not directive.args:
            expanded.append(directive)
            continue
        for target in directive.args:
            if target in _seen:
                raise CorefileError(f"line {directive.line}: import cycle through {target!r}")
            if target in snippets:
                body: Sequence[Directive] = snippets[target]
                expanded.extend(expand_imports(body, snippets, fragments, _seen | {target}))
                continue
            for key in sorted(matching_custom_keys(target, fragments)):
                try:
                    body = parse_directives(fragments[key])
                except CorefileError as exc:
                    raise CorefileError(f"coredns-custom key {key}: {exc}") from exc
                expanded.extend(expand_imports(body, snippets, fragments, _seen | {key}))
    return tuple(expanded)


def matching_custom_keys(pattern: str, fragments: Mapping[str, str]) -> list[str]:
    """coredns-custom keys a glob under ``custom/`` selects (``custom/*.override``)."""
    if not pattern.startswith(CUSTOM_DIR):
        return []
    glob = pattern[len(CUSTOM_DIR) :]
    return [key for key in fragments if fnmatch.fnmatchcase(key, glob)]


@dataclass(frozen=True)
class ZoneAddress:
    """A server block key as CoreDNS normalises it (``core/dnsserver/register.go``):
    transport, fully qualified lower-case zone, port (the transport's default when unset)."""

    transport: str
    zone: str
    port: str

    def __str__(self) -> str:
        return f"{self.transport}://{self.zone}:{self.port}"

    @property
    def is_root(self) -> bool:
        return self.zone == "."

    def within(self, domain: str) -> bool:
        """Whether the zone is ``domain`` or below it (``domain`` without trailing dot)."""
        fqdn = domain.lower().rstrip(".") + "."
        return self.zone == fqdn or self.zone.endswith("." + fqdn)


def zone_address(key: str) -> ZoneAddress:
    """``tls://example.org:853``, ``example.org``, ``.:53`` -> :class:`ZoneAddress`."""
    transport, separator, rest = key.partition("://")
    if not separator:
        transport, rest = DEFAULT_TRANSPORT, key
    transport = transport.lower()
    host, colon, port = rest.rpartition(":")
    if not colon or not port.isdigit():
        host, port = rest, ""
    zone = host.lower().rstrip(".")
    return ZoneAddress(
        transport=transport,
        zone=f"{zone}." if zone else ".",
        port=port or TRANSPORT_PORTS.get(transport, TRANSPORT_PORTS[DEFAULT_TRANSPORT]),
    )
