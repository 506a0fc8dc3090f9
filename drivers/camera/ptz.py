"""Recall a PTZ preset, whatever the camera speaks: VISCA (serial / UDP) or ONVIF."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from drivers.camera.visca import SerialVisca, UdpVisca, ViscaError


class PtzError(Exception):
    """The preset could not be recalled; the message says why."""


@dataclass
class PtzTarget:
    protocol: str  # visca-serial | visca-udp | onvif
    address: str
    preset: int | str
    baudrate: int = 9600
    visca_address: int = 1
    username: str | None = None
    password: str | None = None
    timeout_s: float = 3.0


def _host_port(address: str, default: int) -> tuple[str, int]:
    host, sep, port = address.rpartition(":")
    if sep and port.isdigit():
        return host.strip("[]"), int(port)
    return address, default


async def recall_preset(t: PtzTarget) -> None:
    if t.protocol in ("visca-serial", "visca-udp"):
        if not isinstance(t.preset, int):
            raise PtzError(f"VISCA preset must be a number, got {t.preset!r}")
        client: SerialVisca | UdpVisca
        if t.protocol == "visca-serial":
            client = SerialVisca(t.address, t.baudrate, t.visca_address, t.timeout_s)
        else:
            host, port = _host_port(t.address, 52381)
            client = UdpVisca(host, port, t.visca_address, t.timeout_s)
        try:
            async with client:
                await client.recall_preset(t.preset)
        except (ViscaError, OSError, ValueError) as e:  # ValueError: preset/address range
            raise PtzError(f"VISCA: {e}") from None
        return
    if t.protocol == "onvif":
        await _onvif_goto(t)
        return
    raise PtzError(f"unknown PTZ protocol {t.protocol!r}")


async def _onvif_goto(t: PtzTarget) -> None:
    """GetServices (or GetCapabilities) -> GetProfiles -> GetPresets -> GotoPreset, with
    onvif-zeep-async (WSDLs from the package). The configured preset may be a preset token
    or a preset name as the camera's web page shows it."""

    # lazy: onvif-zeep is slow to import; only ONVIF cameras need it
    from onvif import ONVIFCamera

    host, port = _host_port(t.address, 80)
    cam = ONVIFCamera(host, port, t.username or "", t.password or "")
    try:
        async with asyncio.timeout(t.timeout_s * 3):
            await cam.update_xaddrs()
            media = await cam.create_media_service()
            profiles = await media.GetProfiles()
            if not profiles:
                raise PtzError("ONVIF: the camera has no media profile")
            profile = profiles[0].token
            ptz = await cam.create_ptz_service()
            token = await _preset_token(ptz, profile, str(t.preset))
            await ptz.GotoPreset({"ProfileToken": profile, "PresetToken": token})
    except PtzError:
        raise
    except TimeoutError:
        raise PtzError(f"ONVIF: no answer from {host}:{port}") from None
    except Exception as e:  # zeep faults, transport errors: one clear line
        raise PtzError(f"ONVIF: {type(e).__name__}: {e}") from None
    finally:
        try:
            await cam.close()
        except Exception:
            pass


async def _preset_token(ptz: object, profile: str, wanted: str) -> str:
    """The token of preset ``wanted`` (a token or a name). A camera that cannot list its
    presets gets ``wanted`` as the token, as configured."""
    try:
        # zeep builds the ONVIF service's methods at run time: no types to check against
        presets = await ptz.GetPresets({"ProfileToken": profile})  # type: ignore[attr-defined]
    except Exception:  # listing is optional in practice: try the token as given
        return wanted
    tokens = {getattr(p, "token", None): getattr(p, "Name", None) for p in presets or []}
    if wanted in tokens:
        return wanted
    for token, name in tokens.items():
        if name == wanted and token:
            return str(token)
    known = ", ".join(sorted(f"{n}" if n else f"{tk}" for tk, n in tokens.items()))
    raise PtzError(f"ONVIF: the camera has no preset {wanted!r} (it has: {known or 'none'})")
