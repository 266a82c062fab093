"""The Corefile parser over every CoreDNS fixture, plus the shapes it must refuse."""

from __future__ import annotations

import pytest
import yaml

from netaudit.collector.analysis.corefile import (
    CorefileError,
    Directive,
    expand_imports,
    matching_custom_keys,
    parse_corefile,
    parse_directives,
    tokenize,
)
from tests.conftest import SHARED_FIXTURES
from tests.handmade import AKS_COREFILE

COREDNS = SHARED_FIXTURES / "k8s" / "coredns"

Blocks = list[tuple[tuple[str, ...], list[str]]]

DEFAULT_PLUGINS = [
    "errors",
    "health",
    "ready",
    "kubernetes",
    "prometheus",
    "forward",
    "cache",
    "loop",
    "reload",
    "loadbalance",
]
PLACEHOLDER_KEYS = ("<domain", "to", "be", "rewritten>.com:53")

# (fixture, ConfigMap key or None for a bare file) -> server blocks as (keys, plugin names)
CORE_FILES: dict[tuple[str, str | None], Blocks] = {
    ("aks_coredns-custom_custom-domain.yaml", "puglife.server"): [
        (("puglife.local:53",), ["errors", "cache", "forward"])
    ],
    ("aks_coredns-custom_forward.yaml", "test.server"): [(PLACEHOLDER_KEYS, ["forward"])],
    ("aks_coredns-custom_rewrite.yaml", "test.server"): [
        (PLACEHOLDER_KEYS, ["log", "errors", "rewrite", "forward"])
    ],
    ("aks_coredns-custom_stub-domains.yaml", "test.server"): [
        (("abc.com:53",), ["errors", "cache", "forward"]),
        (("my.cluster.local:53",), ["errors", "cache", "forward"]),
    ],
    ("coredns_corefile5_multi-zone.Corefile", None): [
        (("example.org",), ["whoami"]),
        (("org",), ["whoami"]),
    ],
    ("coredns_corefile5_snippet-import.Corefile", None): [((".",), ["import"])],
    ("coredns_forward_dot.Corefile", None): [((".",), ["forward", "cache"])],
    ("coredns_forward_policy-failover.Corefile", None): [((".",), ["forward"])],
    ("coredns_forward_resolvconf-except.Corefile", None): [((".",), ["forward"])],
    ("coredns_forward_separate-server-blocks.Corefile", None): [
        (("lab.example.local",), ["cache", "forward"]),
        (("example.local",), ["cache", "forward"]),
        ((".",), ["cache", "forward"]),
    ],
    ("coredns_forward_subdomain-order.Corefile", None): [
        ((".",), ["cache", "forward", "forward", "forward"])
    ],
    ("coredns_hosts_inline-fallthrough.Corefile", None): [
        (("example.hosts", "example.org"), ["hosts", "whoami"])
    ],
    ("coredns_template_block-search-completion.Corefile", None): [
        ((".",), ["forward", "template"])
    ],
    ("k8sdocs_coredns-configmap_default.yaml", "Corefile"): [((".:53",), DEFAULT_PLUGINS)],
    ("k8sdocs_coredns-configmap_stubdomain-upstream.yaml", "Corefile"): [
        ((".:53",), [p for p in DEFAULT_PLUGINS if p != "ready"]),
        (("consul.local:53",), ["errors", "cache", "forward"]),
    ],
    ("kubernetes_coredns.yaml.base", "Corefile"): [((".:53",), DEFAULT_PLUGINS)],
}

# override fragments -> top-level plugin names
OVERRIDES: dict[tuple[str, str | None], list[str]] = {
    ("aks_coredns-custom_hosts-override.yaml", "test.override"): ["hosts"],
    ("aks_coredns-custom_log-override.yaml", "log.override"): ["log"],
    ("coredns_rewrite_answer-name.override", None): ["rewrite"],
}

NOT_COREFILES = {"aks_localdns-config.json"}  # LocalDNS JSON config, not Corefile syntax


def text_of(name: str, key: str | None) -> str:
    path = COREDNS / name
    if key is None:
        return path.read_text()
    for document in yaml.safe_load_all(path.read_text()):
        if document and document.get("kind") == "ConfigMap" and key in (document.get("data") or {}):
            return str(document["data"][key])
    raise AssertionError(f"{name} has no ConfigMap key {key}")


def test_every_coredns_fixture_is_parsed_here() -> None:
    covered = {name for name, _ in [*CORE_FILES, *OVERRIDES]} | NOT_COREFILES
    assert {p.name for p in COREDNS.iterdir()} - covered == set()


@pytest.mark.parametrize(("name", "key"), sorted(CORE_FILES, key=str))
def test_server_blocks_of_each_fixture(name: str, key: str | None) -> None:
    corefile = parse_corefile(text_of(name, key))
    assert [(b.keys, b.plugin_names()) for b in corefile.server_blocks] == CORE_FILES[(name, key)]


@pytest.mark.parametrize(("name", "key"), sorted(OVERRIDES, key=str))
def test_override_fragments_are_plugin_lines(name: str, key: str | None) -> None:
    assert [d.name for d in parse_directives(text_of(name, key))] == OVERRIDES[(name, key)]


def block(name: str, key: str | None, plugin: str, index: int = 0) -> Directive:
    corefile = parse_corefile(text_of(name, key))
    return [d for b in corefile.server_blocks for d in b.directives if d.name == plugin][index]


def test_nested_blocks_keep_their_directives() -> None:
    dot = block("coredns_forward_dot.Corefile", None, "forward")
    assert dot.args == (".", "tls://9.9.9.9")
    assert [(d.name, d.args) for d in dot.block] == [
        ("tls_servername", ("dns.quad9.net",)),
        ("health_check", ("5s",)),
    ]
    failover = block("coredns_forward_policy-failover.Corefile", None, "forward")
    assert [(d.name, d.args) for d in failover.block] == [
        ("policy", ("sequential",)),
        ("failover", ("SERVFAIL", "REFUSED")),
    ]
    kubernetes = block("k8sdocs_coredns-configmap_default.yaml", "Corefile", "kubernetes")
    assert kubernetes.args == ("cluster.local", "in-addr.arpa", "ip6.arpa")
    assert [d.name for d in kubernetes.block] == ["pods", "fallthrough", "ttl"]


def test_comments_after_directives_are_dropped() -> None:
    forward = block("aks_coredns-custom_custom-domain.yaml", "puglife.server", "forward")
    assert forward.args == (".", "192.11.0.1")
    rewrite_forward = block("aks_coredns-custom_rewrite.yaml", "test.server", "forward")
    assert rewrite_forward.args == (".", "/etc/resolv.conf")


def test_braces_inside_arguments_are_not_blocks() -> None:
    rewrite = block("aks_coredns-custom_rewrite.yaml", "test.server", "rewrite")
    assert rewrite.args == ("stop",)
    assert [d.name for d in rewrite.block] == ["name", "answer"]
    assert rewrite.block[0].args[-1] == "{1}.default.svc.cluster.local"


def test_quoted_arguments_keep_spaces_and_parentheses() -> None:
    template = block("coredns_template_block-search-completion.Corefile", None, "template")
    authority = next(d for d in template.block if d.name == "authority")
    assert authority.args == (
        "{{ index .Match 1 }} 60 IN SOA ns.{{ index .Match 1 }} hostmaster.{{ index .Match 1 }} "
        "(1 60 60 60 60)",
    )


def test_line_numbers_point_at_the_directive() -> None:
    (hosts,) = parse_directives(text_of("aks_coredns-custom_hosts-override.yaml", "test.override"))
    assert hosts.line == 1
    assert [(d.name, d.line) for d in hosts.block][-1] == ("fallthrough", 5)


def test_snippets_are_defined_and_imported() -> None:
    corefile = parse_corefile(text_of("coredns_corefile5_snippet-import.Corefile", None))
    assert [d.name for d in corefile.snippets["mysnippet"]] == ["log", "whoami"]
    (server,) = corefile.server_blocks
    expanded = expand_imports(server.directives, corefile.snippets, {})
    assert [d.name for d in expanded] == ["log", "whoami"]


def test_aks_imports_pull_in_coredns_custom_keys() -> None:
    corefile = parse_corefile(AKS_COREFILE)
    assert corefile.imports == ("custom/*.server",)
    fragments = {
        "upstream.override": "forward . 168.63.129.16\n",
        "log.override": "log\n",
        "stub.server": "example.com:53 {\n  forward . 10.0.0.4\n}\n",
        "ignored.conf": "whoami\n",
    }
    (server,) = corefile.server_blocks
    names = [d.name for d in expand_imports(server.directives, corefile.snippets, fragments)]
    assert names[-2:] == ["log", "forward"]  # keys in sorted order, .server/.conf not matched
    assert names.count("forward") == 2
    assert sorted(matching_custom_keys("custom/*.server", fragments)) == ["stub.server"]
    assert matching_custom_keys("other/*.server", fragments) == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (". {\n  forward . 1.1.1.1\n", "line 1: '{' is never closed"),
        (". {\n  cache\n}\n}\n", "line 4: unexpected '}'"),
        ("example.org\n", "line 1: server block 'example.org' has no '{'"),
        ('. {\n  template "unterminated\n}\n', "line 2: unterminated quote"),
        (". {\n  {\n  }\n}\n", "line 2: '{' without a directive"),
    ],
)
def test_malformed_corefiles_name_the_line(text: str, message: str) -> None:
    with pytest.raises(CorefileError, match=message):
        parse_corefile(text)


def test_stray_closing_brace_in_an_override_is_refused() -> None:
    with pytest.raises(CorefileError, match="line 2: unexpected '}'"):
        parse_directives("log\n}\n")


def test_tokens_skip_comments_but_not_hashes_inside_quotes() -> None:
    assert [t.text for t in tokenize('forward . 1.1.1.1 # upstream\n"a # b"\n')] == [
        "forward",
        ".",
        "1.1.1.1",
        "a # b",
    ]


def test_directive_and_closing_brace_on_one_line() -> None:
    corefile = parse_corefile(". { cache 30 }\n")
    (server,) = corefile.server_blocks
    assert [(d.name, d.args) for d in server.directives] == [("cache", ("30",))]


def test_comma_separated_keys_are_split() -> None:
    (server,) = parse_corefile("example.org,example.net:53 {\n whoami\n}\n").server_blocks
    assert server.keys == ("example.org", "example.net:53")
