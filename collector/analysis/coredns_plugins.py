"""The plugins built into CoreDNS: the only ones AKS's CoreDNS can load (A-CDC: "only
built-in CoreDNS plugins are supported").

Source: coredns/coredns ``plugin.cfg`` (one ``<directive>:<package>`` line per plugin
compiled in), read at commit f03a9a780a7f91664d74745729d72446ec42726e (the 1.8 series),
plus the directives later releases added to the same file (``geoip``, ``header``,
``tsig``, ``timeouts``, ``view``, ``nomad``, ``multisocket``, and on master ``quic``,
``grpc_server``, ``https``, ``https3``, ``proxyproto``). The list is the union over
releases: AKS runs different CoreDNS versions by Kubernetes minor, and a plugin that is
built into some of them is not "third-party". A plugin newer than the cluster's CoreDNS
therefore passes here and fails at load time; the reload log (DNS-004) shows that.
"""

from __future__ import annotations

BUILTIN_PLUGINS = frozenset(
    {
        # plugin.cfg @ f03a9a7, in its order
        "metadata",
        "cancel",
        "tls",
        "reload",
        "nsid",
        "bufsize",
        "root",
        "bind",
        "debug",
        "trace",
        "ready",
        "health",
        "pprof",
        "prometheus",
        "errors",
        "log",
        "dnstap",
        "local",
        "dns64",
        "acl",
        "any",
        "chaos",
        "loadbalance",
        "cache",
        "rewrite",
        "dnssec",
        "autopath",
        "minimal-responses",
        "template",
        "transfer",
        "hosts",
        "route53",
        "azure",
        "clouddns",
        "k8s_external",
        "kubernetes",
        "file",
        "auto",
        "secondary",
        "etcd",
        "loop",
        "forward",
        "grpc",
        "erratic",
        "whoami",
        "on",
        "sign",
        # added to plugin.cfg by later releases
        "minimal",
        "geoip",
        "header",
        "tsig",
        "timeouts",
        "view",
        "nomad",
        "multisocket",
        "quic",
        "grpc_server",
        "https",
        "https3",
        "proxyproto",
    }
)
"""Directive names CoreDNS knows without a custom build."""

CORE_DIRECTIVES = frozenset({"import"})
"""Corefile keywords that are not plugins (``import`` of a snippet or file)."""


def is_builtin(directive: str) -> bool:
    return directive in BUILTIN_PLUGINS or directive in CORE_DIRECTIVES
