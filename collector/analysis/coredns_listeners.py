"""Which zones and addresses CoreDNS server blocks listen on, and the overlaps CoreDNS
refuses at load time: coredns/coredns ``core/dnsserver/register.go``
(``validateZonesAndListeningAddresses``) and ``address.go`` (``registerAndCheck``).
"""

from __future__ import annotations

from dataclasses import dataclass

from netaudit.collector.analysis.corefile import ServerBlock, ZoneAddress, zone_address


@dataclass(frozen=True)
class Listener:
    """One (zone, listen address) of a server block, as CoreDNS checks them for overlap."""

    address: ZoneAddress
    bind: str
    origin: str
    """``main Corefile`` or the coredns-custom key that declared it."""

    def __str__(self) -> str:
        return f"{self.address} on {self.bind}" if self.bind else str(self.address)


class ListenerRegistry:
    """CoreDNS's zone/listener overlap check (``core/dnsserver/register.go``
    ``validateZonesAndListeningAddresses`` and ``address.go`` ``registerAndCheck``): the
    same transport, zone and port may be served once per bind address, and a block bound
    to no address overlaps every bound one. Blocks with a ``view`` filter only check."""

    def __init__(self) -> None:
        self._registered: dict[tuple[str, str, str, str], Listener] = {}
        self._unbound: dict[tuple[str, str, str], Listener] = {}

    def add(self, block: ServerBlock, origin: str) -> list[tuple[Listener, Listener]]:
        """Register ``block``; (new listener, the one it clashes with) for every clash."""
        filtered = any(d.name == "view" for d in block.directives)
        binds = [arg for d in block.directives if d.name == "bind" for arg in d.args] or [""]
        clashes = []
        for key in block.keys:
            address = zone_address(key)
            for bind in binds:
                listener = Listener(address, bind, origin)
                clash = self._check(listener, register=not filtered)
                if clash is not None:
                    clashes.append((listener, clash))
        return clashes

    def _check(self, listener: Listener, *, register: bool) -> Listener | None:
        a = listener.address
        exact = (a.transport, a.zone, a.port, listener.bind)
        unbound = (a.transport, a.zone, a.port)
        if exact in self._registered:
            return self._registered[exact]
        if unbound in self._unbound:
            if listener.bind == "":
                return self._unbound[unbound]
            if (*unbound, "") in self._registered:
                return self._registered[(*unbound, "")]
        if register:
            self._registered[exact] = listener
            self._unbound.setdefault(unbound, listener)
        return None
