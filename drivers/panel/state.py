"""What a display device can tell us, independent of its protocol."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

# "on" and "off" are what every protocol reports; projectors add the transitions.
Power = Literal["on", "off", "warming", "cooling"]
STATE_FIELDS = ("power", "input", "volume", "mute", "errors", "model", "serial")


@dataclass
class PanelState:
    """Last known state. ``None`` means unknown (not readable, or contact lost)."""

    power: Power | None = None
    input: str | None = None
    volume: int | None = None
    mute: bool | None = None
    # only the flags that are not OK: {"lamp": "error", "fan": "warning"}
    errors: dict[str, str] = field(default_factory=dict)
    model: str | None = None
    serial: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # protocol specific (lamp_hours ...)

    def apply(self, updates: dict[str, Any]) -> bool:
        """Merge protocol updates; True when anything changed."""
        changed = False
        for key, value in updates.items():
            if key in STATE_FIELDS:
                if getattr(self, key) != value:
                    setattr(self, key, value)
                    changed = True
            elif self.extra.get(key, ...) != value:
                self.extra[key] = value
                changed = True
        return changed

    def forget_live(self) -> bool:
        """Contact lost: live values become unknown; identity (model/serial) stays."""
        return self.apply({"power": None, "input": None, "volume": None, "mute": None})

    def attrs(self) -> dict[str, Any]:
        d = asdict(self)
        extra = d.pop("extra")
        d.update(extra)
        return d

    @property
    def is_on(self) -> bool | None:
        if self.power is None:
            return None
        return self.power in ("on", "warming")
