"""Hand-made test data shared by several test modules, where nothing real is published."""

# The AKS default Corefile as domain.md §3.1 documents it (hand-written from the doc: no
# licensed copy was published, fixtures MANIFEST "Missing" 5).
AKS_COREFILE = """\
.:53 {
    errors
    ready
    health {
        lameduck 5s
    }
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 30
    }
    prometheus :9153
    forward . /etc/resolv.conf
    cache 30
    loop
    reload
    loadbalance
    import custom/*.override
}
import custom/*.server
"""
