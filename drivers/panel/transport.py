"""Opening the byte pipe to a device: a serial port or a TCP connection.

Both return an asyncio (reader, writer) pair, so codecs and protocol sessions never know
which one they run over. Every failure becomes a ``PanelFault`` with an operator-facing
reason ("port_missing: serial port /dev/ttyUSB0 not found").
"""

from __future__ import annotations

import asyncio
import errno
import os
import socket
from dataclasses import dataclass

from drivers.panel.errors import PanelFault

Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]


@dataclass(frozen=True)
class SerialTarget:
    path: str
    baud: int = 9600

    def describe(self) -> str:
        return f"serial {self.path} @{self.baud}"


@dataclass(frozen=True)
class TcpTarget:
    host: str
    port: int

    def describe(self) -> str:
        return f"tcp {self.host}:{self.port}"


Target = SerialTarget | TcpTarget


async def open_serial(target: SerialTarget) -> Streams:
    # lazy: pyserial loads only for a serial panel
    import serial
    import serial_asyncio_fast

    # pyserial reports a missing port as a generic SerialException; look first so the
    # reason can say what happened instead of a wrapped errno text
    if not os.path.exists(target.path):  # noqa: ASYNC240 - one stat, no I/O wait
        raise PanelFault("port_missing", f"serial port {target.path} not found (unplugged?)")
    try:
        reader, writer = await serial_asyncio_fast.open_serial_connection(
            url=target.path, baudrate=target.baud, bytesize=8, parity="N", stopbits=1
        )
    except serial.SerialException as e:
        raise _serial_open_fault(target, e) from None
    except OSError as e:
        raise _serial_open_fault(target, e) from None
    ser = writer.transport.get_extra_info("serial")
    if ser is not None:
        # bytes that piled up while nobody listened (boot junk, old replies) are stale
        try:
            ser.reset_input_buffer()
        except Exception:  # a pty may not support it; harmless
            pass
    return reader, writer


def _serial_open_fault(target: SerialTarget, e: Exception) -> PanelFault:
    err = getattr(e, "errno", None)
    text = str(e)
    if err == errno.ENOENT or "No such file" in text:
        return PanelFault("port_missing", f"serial port {target.path} not found (unplugged?)")
    if err == errno.EACCES or "Permission denied" in text:
        return PanelFault(
            "permission", f"no permission on {target.path} (add the agent user to 'dialout')"
        )
    if err == errno.EBUSY or "busy" in text.lower():
        return PanelFault("busy", f"{target.path} is used by another program")
    return PanelFault("serial_error", f"cannot open {target.path}: {text}")


async def open_tcp(target: TcpTarget, timeout_s: float) -> Streams:
    try:
        async with asyncio.timeout(timeout_s):
            return await asyncio.open_connection(target.host, target.port)
    except ConnectionRefusedError:
        raise PanelFault("refused", f"connection refused by {target.host}:{target.port}") from None
    except TimeoutError:
        raise PanelFault(
            "unreachable", f"no answer connecting to {target.host}:{target.port} in {timeout_s:g} s"
        ) from None
    except socket.gaierror as e:
        raise PanelFault("unreachable", f"cannot resolve {target.host}: {e.strerror}") from None
    except OSError as e:
        raise PanelFault(
            "unreachable", f"cannot connect to {target.host}:{target.port}: {e.strerror or e}"
        ) from None


async def open_target(target: Target, connect_timeout_s: float) -> Streams:
    if isinstance(target, SerialTarget):
        async with asyncio.timeout(connect_timeout_s):
            return await open_serial(target)
    return await open_tcp(target, connect_timeout_s)


def loss_fault(target: Target, exc: BaseException | None, mid_reply: bool) -> PanelFault:
    """Why an open link died, worded by what it was."""
    if isinstance(target, SerialTarget):
        detail = f" ({exc})" if exc else ""
        return PanelFault("unplugged", f"serial port {target.path} went away{detail}")
    where = "mid-reply" if mid_reply else "between requests"
    return PanelFault("closed", f"{target.host}:{target.port} closed the connection {where}")
