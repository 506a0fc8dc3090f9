"""ONVIF GotoPreset through onvif-zeep-async against a small SOAP stub on loopback.

The stub answers just enough of the device, media and PTZ services (GetServices,
GetCapabilities, GetProfiles, GetPresets, GotoPreset) with the envelopes a camera sends;
the library parses them with the WSDLs it ships. The stub records what it was asked.
"""

from __future__ import annotations

import re

import pytest
from aiohttp import web

from drivers.camera.ptz import PtzError, PtzTarget, recall_preset

SOAP = "http://www.w3.org/2003/05/soap-envelope"
NS = {
    "tds": "http://www.onvif.org/ver10/device/wsdl",
    "trt": "http://www.onvif.org/ver10/media/wsdl",
    "tptz": "http://www.onvif.org/ver20/ptz/wsdl",
    "tt": "http://www.onvif.org/ver10/schema",
}


def _envelope(body: str) -> str:
    xmlns = " ".join(f'xmlns:{k}="{v}"' for k, v in NS.items())
    return (f'<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="{SOAP}" {xmlns}>'
            f"<s:Body>{body}</s:Body></s:Envelope>")


def _fault(reason: str) -> str:
    return _envelope(f"<s:Fault><s:Code><s:Value>s:Sender</s:Value></s:Code>"
                     f'<s:Reason><s:Text xml:lang="en">{reason}</s:Text></s:Reason></s:Fault>')


class OnvifStub:
    """One PTZ camera: profile ``prof-main``, presets ``1`` (board) and ``2`` (desk)."""

    def __init__(self, services: bool = True) -> None:
        self.services = services  # False: an old camera without GetServices
        self.calls: list[str] = []
        self.goto: list[tuple[str, str]] = []
        self.auth_seen = False
        self.base = ""

    def _service(self, ns: str, path: str) -> str:
        return (f"<tds:Service><tds:Namespace>{NS[ns]}</tds:Namespace>"
                f"<tds:XAddr>{self.base}{path}</tds:XAddr><tds:Version><tt:Major>2</tt:Major>"
                f"<tt:Minor>60</tt:Minor></tds:Version></tds:Service>")

    def answer(self, op: str, body: str) -> tuple[int, str]:
        if op == "GetServices":
            if not self.services:
                return 500, _fault("Action not supported")
            return 200, _envelope(
                "<tds:GetServicesResponse>" + self._service("tds", "/onvif/device_service")
                + self._service("trt", "/onvif/media") + self._service("tptz", "/onvif/ptz")
                + "</tds:GetServicesResponse>")
        if op == "GetCapabilities":
            return 200, _envelope(
                "<tds:GetCapabilitiesResponse><tds:Capabilities>"
                f"<tt:Device><tt:XAddr>{self.base}/onvif/device_service</tt:XAddr></tt:Device>"
                f"<tt:Media><tt:XAddr>{self.base}/onvif/media</tt:XAddr></tt:Media>"
                f"<tt:PTZ><tt:XAddr>{self.base}/onvif/ptz</tt:XAddr></tt:PTZ>"
                "</tds:Capabilities></tds:GetCapabilitiesResponse>")
        if op == "GetProfiles":
            return 200, _envelope(
                '<trt:GetProfilesResponse><trt:Profiles token="prof-main" fixed="true">'
                "<tt:Name>main</tt:Name></trt:Profiles></trt:GetProfilesResponse>")
        if op == "GetPresets":
            return 200, _envelope(
                '<tptz:GetPresetsResponse><tptz:Preset token="1"><tt:Name>board</tt:Name>'
                '</tptz:Preset><tptz:Preset token="2"><tt:Name>desk</tt:Name></tptz:Preset>'
                "</tptz:GetPresetsResponse>")
        if op == "GotoPreset":
            prof = re.search(r"ProfileToken>([^<]*)<", body)  # any prefix
            preset = re.search(r"PresetToken>([^<]*)<", body)
            assert prof and preset, body
            if preset.group(1) not in ("1", "2"):
                return 500, _fault("No such PresetToken")
            self.goto.append((prof.group(1), preset.group(1)))
            return 200, _envelope("<tptz:GotoPresetResponse/>")
        return 500, _fault(f"Action {op} not supported by the stub")

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.text()
        m = re.search(r"<(?:[\w-]+:)?Body[^>]*>\s*<(?:[\w-]+:)?(\w+)", body)
        op = m.group(1) if m else "?"
        self.calls.append(op)
        self.auth_seen |= "UsernameToken" in body
        status, text = self.answer(op, body)
        return web.Response(status=status, text=text, content_type="application/soap+xml")


@pytest.fixture
async def onvif_stub(request):
    stub = OnvifStub(**getattr(request, "param", {}))
    app = web.Application()
    app.router.add_post("/{tail:.*}", stub.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    stub.base = f"http://127.0.0.1:{port}"
    stub.address = f"127.0.0.1:{port}"  # type: ignore[attr-defined]
    try:
        yield stub
    finally:
        await runner.cleanup()


async def test_goto_preset_by_token(onvif_stub) -> None:
    await recall_preset(PtzTarget(protocol="onvif", address=onvif_stub.address, preset=2,
                                  username="admin", password="secret", timeout_s=5))
    assert onvif_stub.goto == [("prof-main", "2")]
    assert "GetServices" in onvif_stub.calls and "GetProfiles" in onvif_stub.calls
    assert onvif_stub.auth_seen  # WS-Security UsernameToken sent


async def test_goto_preset_by_name(onvif_stub) -> None:
    await recall_preset(PtzTarget(protocol="onvif", address=onvif_stub.address,
                                  preset="board", timeout_s=5))
    assert onvif_stub.goto == [("prof-main", "1")]


@pytest.mark.parametrize("onvif_stub", [{"services": False}], indirect=True)
async def test_old_camera_without_getservices(onvif_stub) -> None:
    await recall_preset(PtzTarget(protocol="onvif", address=onvif_stub.address, preset=1,
                                  timeout_s=5))
    assert "GetCapabilities" in onvif_stub.calls
    assert onvif_stub.goto == [("prof-main", "1")]


async def test_unknown_preset_is_a_clear_error(onvif_stub) -> None:
    with pytest.raises(PtzError, match=r"no preset 'stage'.*board, desk"):
        await recall_preset(PtzTarget(protocol="onvif", address=onvif_stub.address,
                                      preset="stage", timeout_s=5))
    assert onvif_stub.goto == []


async def test_nobody_listening_is_a_clear_error() -> None:
    from tests.conftest import free_port

    with pytest.raises(PtzError, match="ONVIF"):
        await recall_preset(PtzTarget(protocol="onvif", address=f"127.0.0.1:{free_port()}",
                                      preset=1, timeout_s=1))
