"""Protocol sessions: what to ask a device and how to read its answers.

Each module has one ``PanelProtocol`` subclass bound to one open ``Link``. The device
(``drivers.panel.device``) owns connecting, polling cadence, reconnects and state; a
protocol only knows its command set. ``PROTOCOLS`` maps the config name to the class.
"""

from __future__ import annotations

from drivers.panel.protocols.base import PanelProtocol
from drivers.panel.protocols.mdc import MdcProtocol
from drivers.panel.protocols.pjlink import PjlinkProtocol
from drivers.panel.protocols.smart import SmartProtocol
from drivers.panel.protocols.viewsonic import ViewSonicProtocol


def protocol_class(name: str) -> type[PanelProtocol]:
    classes = {c.name: c for c in (PjlinkProtocol, SmartProtocol, ViewSonicProtocol, MdcProtocol)}
    try:
        return classes[name]
    except KeyError:
        raise ValueError(f"unknown panel protocol {name!r} (known: {', '.join(classes)})") from None


PROTOCOL_NAMES = ("pjlink", "smart", "viewsonic", "mdc")
