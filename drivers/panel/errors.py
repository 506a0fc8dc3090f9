"""Why a panel cannot be used right now, worded for the operator.

Every failure the driver can meet ends as a ``PanelFault`` with a short stable ``code``
(tests and dashboards match on it) and a human ``message``; ``reason`` is what goes into
``DeviceState.reason``. A device *refusing* one command (PJLink ``ERR2``, ViewSonic ``-``,
MDC NAK) is a ``DeviceRefused``: the link is healthy, only that request failed.
"""

from __future__ import annotations

from typing import Literal

# Codes used in reasons; keep them stable, docs/panels.md lists them.
FAULT_CODES = {
    "port_missing": "the serial port does not exist (unplugged USB adapter, wrong path)",
    "permission": "no permission to open the serial port",
    "busy": "the serial port is used by another program",
    "unplugged": "the serial port went away while open",
    "serial_error": "other serial port error",
    "refused": "TCP connection refused",
    "unreachable": "host did not answer / network unreachable / DNS failure",
    "closed": "the device closed the connection (possibly mid-reply)",
    "timeout": "the device did not answer in time",
    "partial": "the device sent an incomplete reply",
    "garbage": "the device sent bytes that are not its protocol (baud rate? protocol?)",
    "auth_failed": "PJLink password rejected",
    "auth_required": "the device needs a PJLink password and none is configured",
    "asleep": "no reply, and the panel was last seen off (power-saving mode)",
    "device_error": "the device reports a hardware error (lamp, fan, temperature ...)",
    "internal": "a bug in the driver (logged); the driver restarts the connection",
}


class PanelFault(Exception):
    """The link to a panel is unusable; the driver reconnects with backoff."""

    def __init__(
        self, code: str, message: str, status: Literal["fault", "offline"] = "fault"
    ) -> None:
        self.code = code
        self.message = message
        self.status = status
        super().__init__(self.reason)

    @property
    def reason(self) -> str:
        return f"{self.code}: {self.message}"


class DeviceRefused(Exception):
    """The device answered a request with an error reply; the link stays up.

    ``code``: ``unsupported`` (unknown command), ``bad_value`` (out of range),
    ``busy`` (not possible in the current state, e.g. input change while warming up),
    ``device_failure`` (PJLink ERR4).
    """

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(f"{code}: {message}")


class PanelUnavailable(Exception):
    """A command was asked of a panel that is not connected."""
