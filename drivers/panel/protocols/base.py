"""The interface every panel protocol implements."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from drivers.panel.errors import PanelFault
from drivers.panel.link import Link


@dataclass
class ProtocolOptions:
    """Per-device settings a protocol may need."""

    timeout_s: float = 2.0
    retries: int = 1  # a timed-out / garbled exchange is retried this often before a fault
    password: str | None = None  # PJLink
    display_id: int = 1  # ViewSonic / MDC daisy-chain address
    extra: dict[str, Any] = field(default_factory=dict)


Updates = dict[str, Any]


class PanelProtocol:
    name: ClassVar[str] = "base"
    transports: ClassVar[tuple[str, ...]] = ("serial", "tcp")
    default_port: ClassVar[int | None] = None
    default_baud: ClassVar[int] = 9600
    # SMART panels in power-saving ignore RS-232: silence after "off" is sleep, not a fault
    silent_when_off: ClassVar[bool] = False

    def __init__(self, link: Link, options: ProtocolOptions) -> None:
        self.link = link
        self.options = options
        self.unsupported: set[str | int] = set()  # queries the device refused; not asked again

    # decoding hooks, used by the device when it builds the Link
    @staticmethod
    def decoder() -> Any:
        raise NotImplementedError

    @staticmethod
    def is_unsolicited(frame: Any) -> bool:
        return False

    @staticmethod
    def unsolicited_updates(frame: Any) -> Updates:
        return {}

    # session
    async def handshake(self) -> Updates:
        """Run right after the link opens; returns identity fields (model, serial)."""
        return {}

    async def poll(self) -> Updates:
        raise NotImplementedError

    async def set_power(self, on: bool) -> None:
        raise NotImplementedError

    async def set_input(self, code: str) -> None:
        raise NotImplementedError

    # inputs: names shown to people vs codes on the wire
    @classmethod
    def input_code(cls, name: str) -> str | None:
        """The wire code for an input name, or None if this protocol has no such input."""
        raise NotImplementedError

    @classmethod
    def known_inputs(cls) -> list[str]:
        return []

    async def ask(self, data: bytes, match: Callable[[Any], bool], what: str) -> Any:
        """One request/reply with retries on timeouts and garbage."""
        last: PanelFault | None = None
        for _ in range(max(0, self.options.retries) + 1):
            try:
                return await self.link.request(data, match, self.options.timeout_s, what)
            except PanelFault as f:
                if f.code not in ("timeout", "garbage", "partial"):
                    raise
                last = f
                self.link.discard()
        assert last is not None
        raise last
