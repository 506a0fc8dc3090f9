"""Panel and projector drivers: state, control and unsolicited changes over RS-232 / LAN.

``PanelDevice(PanelSpec(...))`` is the interface the agent uses; ``drivers.panel.codecs``
holds the wire formats (pure, fuzzed) and ``drivers.panel.protocols`` the per-protocol
sessions. Nothing here knows MQTT, HTTP or lessons.
"""

from drivers.panel.device import PanelDevice, PanelSpec
from drivers.panel.errors import DeviceRefused, PanelFault, PanelUnavailable
from drivers.panel.protocols.base import ProtocolOptions
from drivers.panel.state import PanelState
from drivers.panel.transport import SerialTarget, TcpTarget

__all__ = [
    "DeviceRefused", "PanelDevice", "PanelFault", "PanelSpec", "PanelState", "PanelUnavailable",
    "ProtocolOptions", "SerialTarget", "TcpTarget",
]
