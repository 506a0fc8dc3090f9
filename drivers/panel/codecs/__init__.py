"""Wire formats, one module per protocol: pure functions and incremental decoders.

No I/O here. A decoder is fed whatever bytes arrived (any split, any junk) and returns the
frames it could cut plus ``Junk`` for bytes that are not its protocol; it never raises and
keeps at most ``MAX_PENDING`` bytes of an unfinished frame.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_PENDING = 512


@dataclass(frozen=True)
class Junk:
    """Bytes that are not a valid frame of the protocol (boot noise, wrong baud rate)."""

    data: bytes


def printable(data: bytes) -> bool:
    return all(32 <= b < 127 for b in data)


class BufferedDecoder:
    """What every decoder keeps between feeds: the bytes of an unfinished frame."""

    def __init__(self) -> None:
        self._buf = bytearray()

    @property
    def pending(self) -> int:
        return len(self._buf)

    def reset(self) -> None:
        """Forget a half-received frame (before a retry)."""
        self._buf.clear()
