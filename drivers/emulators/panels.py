"""Index of the panel emulators by protocol name."""

from __future__ import annotations

from drivers.emulators.mdc import MdcEmulator
from drivers.emulators.panel_base import PanelEmulator
from drivers.emulators.pjlink import PjlinkEmulator
from drivers.emulators.smart import SmartEmulator
from drivers.emulators.viewsonic import ViewSonicEmulator


def emulator_class(protocol: str) -> type[PanelEmulator]:
    classes = {e.protocol: e for e in (PjlinkEmulator, SmartEmulator, ViewSonicEmulator,
                                       MdcEmulator)}
    try:
        return classes[protocol]
    except KeyError:
        raise ValueError(f"no emulator for protocol {protocol!r}") from None
