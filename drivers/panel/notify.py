"""PJLink Class 2 status notifications: one UDP socket per (bind, port), shared by devices.

Projectors send ``%2POWR=1\\r``-style datagrams to port 4352 of their controller. Several
projectors may report to one agent, so one socket serves all of them and hands each
datagram to the subscriber registered for the sender's IP address.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

Handler = Callable[[bytes], None]


class _Hub(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.subscribers: dict[str, Handler] = {}
        self.transport: asyncio.DatagramTransport | None = None
        self.refs = 0
        self.unknown_senders = 0

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        handler = self.subscribers.get(addr[0])
        if handler is None:
            self.unknown_senders += 1
            return
        try:
            handler(data)
        except Exception:  # one bad datagram must not close the shared socket
            log.exception("PJLink notification handler failed")


_hubs: dict[tuple[str, int], _Hub] = {}


class Subscription:
    def __init__(self, key: tuple[str, int], senders: set[str]) -> None:
        self._key = key
        self._senders = senders

    def close(self) -> None:
        hub = _hubs.get(self._key)
        if hub is None:
            return
        for sender in self._senders:
            hub.subscribers.pop(sender, None)
        hub.refs -= 1
        if hub.refs <= 0:
            if hub.transport:
                hub.transport.close()
            _hubs.pop(self._key, None)


async def subscribe(bind: str, port: int, sender_host: str, handler: Handler) -> Subscription:
    """Deliver datagrams from ``sender_host`` arriving on ``bind:port``; raises OSError
    when the port cannot be bound."""
    loop = asyncio.get_running_loop()
    key = (bind, port)
    hub = _hubs.get(key)
    if hub is None:
        hub = _Hub()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: hub, local_addr=(bind, port), reuse_port=False
        )
        hub.transport = transport
        _hubs[key] = hub
    try:
        infos = await loop.getaddrinfo(sender_host, None, type=2)  # SOCK_DGRAM
        senders = {str(i[4][0]) for i in infos} or {sender_host}
    except OSError:
        senders = {sender_host}
    for sender in senders:
        hub.subscribers[sender] = handler
    hub.refs += 1
    return Subscription(key, senders)
