"""Panel codecs: known frames, and hypothesis fuzzing (any bytes, any split, never a crash;
valid frames survive junk and arbitrary fragmentation)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.panel.codecs import Junk, mdc, pjlink, smart, viewsonic

DECODERS = {
    "pjlink-device": pjlink.device_decoder,
    "pjlink-controller": pjlink.controller_decoder,
    "smart-panel": smart.PanelDecoder,
    "smart-controller": smart.ControllerDecoder,
    "viewsonic": viewsonic.Decoder,
    "mdc": mdc.Decoder,
}
FUZZ = settings(max_examples=200, deadline=None)


def feed_split(decoder, data: bytes, cuts: list[int]) -> list:
    out: list = []
    pos = 0
    for cut in sorted(c % (len(data) + 1) for c in cuts):
        out += decoder.feed(data[pos:cut])
        pos = max(pos, cut)
    out += decoder.feed(data[pos:])
    return out


@FUZZ
@given(data=st.binary(max_size=2000), cuts=st.lists(st.integers(0, 4000), max_size=8))
def test_decoders_never_raise_and_stay_bounded(data: bytes, cuts: list[int]) -> None:
    for make in DECODERS.values():
        d = make()
        feed_split(d, data, cuts)
        assert d.pending <= 600


def test_pjlink_known_frames() -> None:
    # the spec's authentication example
    digest = pjlink.auth_digest("498e4a67", "JBMIAProjectorLink")
    assert digest == "5d8409bc1c3fa39749434aa3a5c38682"
    assert pjlink.encode_command("POWR", "1") == b"%1POWR 1\r"
    d = pjlink.device_decoder()
    assert d.feed(b"PJLINK 0\rPJLINK 1 00112233\rPJLINK ERRA\r%1POWR=ERR3\r%2INPT=3A\r") == [
        pjlink.Greeting(False), pjlink.Greeting(True, "00112233"), pjlink.AuthError(),
        pjlink.Response("1", "POWR", "ERR3"), pjlink.Response("2", "INPT", "3A")]
    assert pjlink.input_name("3A") == "DIGITALA" and pjlink.input_code("digital2") == "32"
    assert pjlink.parse_erst("000210") == {"cover": "error", "filter": "warning"}
    assert pjlink.encode_erst({"lamp": "error"}) == "020000"
    assert pjlink.normalise_mac("0011-22AA-BBCC") == "00:11:22:aa:bb:cc"


def test_smart_known_frames() -> None:
    d = smart.PanelDecoder()
    out = d.feed(b"\x93\x88boot\r\n>powerstate=ready\r\n>#input=HDMI2\r\ninvalid cmd=get x\r\n>")
    assert out[:2] == [Junk(b"\x93\x88"), Junk(b"boot")]
    assert out[2:] == [smart.Prompt(), smart.Reply("powerstate", "ready"), smart.Prompt(),
                       smart.Event("input", "HDMI2"), smart.Invalid("get x"), smart.Prompt()]
    c = smart.ControllerDecoder()
    assert c.feed(b"\rset input=HDMI1\r") == [smart.Command("", ""),
                                               smart.Command("set", "input", "hdmi1")]


def test_viewsonic_known_frames() -> None:
    # the manual's example: get brightness of display 05, reply 067
    assert viewsonic.encode_get(5, "b") == bytes.fromhex("383035676230303000d"[:16] + "0d")
    assert viewsonic.encode_set(1, "!", 1) == bytes.fromhex("38303173213030310d")
    d = viewsonic.Decoder()
    assert d.feed(bytes.fromhex("38303572623036370d") + b"405-\r") == [
        viewsonic.Frame(5, "r", "b", "067"), viewsonic.Frame(5, "-")]


def test_mdc_known_frames() -> None:
    # power on to display 1: AA 11 01 01 01 checksum 0x14
    assert mdc.encode(0x11, 1, b"\x01") == bytes.fromhex("aa1101010114")
    f = mdc.Decoder().feed(mdc.encode_nak(1, 0x14, 2))
    assert f == [mdc.Frame(0xFF, 1, bytes([mdc.NAK, 0x14, 2]))] and not f[0].ack


FRAMES = {
    "pjlink": (pjlink.device_decoder, st.sampled_from([
        b"%1POWR=1\r", b"PJLINK 1 abcdef12\r", b"%2ERST=000200\r", b"%1INPT=ERR3\r"])),
    "smart": (smart.PanelDecoder, st.sampled_from([
        b"powerstate=on\r\n", b"#input=hdmi2\r\n", b"volume=55\r\n", b"invalid cmd=x\r\n"])),
    "viewsonic": (viewsonic.Decoder, st.builds(
        lambda i, cmd, v: viewsonic.Frame(i, "r", cmd, f"{v:03d}").encode(),
        st.integers(0, 99), st.sampled_from("!\"lfgj"), st.integers(0, 999))),
    "mdc": (mdc.Decoder, st.builds(
        lambda cmd, i, data: mdc.encode(cmd, i, data),
        st.integers(0, 254), st.integers(0, 255), st.binary(max_size=20))),
}
# junk that cannot start or continue a frame of any of the protocols
JUNK = st.binary(max_size=12).map(lambda b: bytes(0x80 + (x % 0x20) for x in b))


@FUZZ
@given(data=st.data())
def test_valid_frames_survive_junk_and_fragmentation(data) -> None:
    for make, frames in FRAMES.values():
        chunks = data.draw(st.lists(st.tuples(JUNK, frames), min_size=1, max_size=6))
        stream = b"".join(j + f for j, f in chunks)
        cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=6))
        expected = [x for f in (f for _, f in chunks) for x in make().feed(f)]
        got = [x for x in feed_split(make(), stream, cuts) if not isinstance(x, Junk)]
        assert got == [x for x in expected if not isinstance(x, Junk)]


@FUZZ
@given(raw=st.binary(max_size=64))
def test_controller_side_parsers_never_raise(raw: bytes) -> None:
    pjlink.parse_controller_line(raw)
    smart.parse_controller_line(raw)
    pjlink.parse_device_line(raw)
    smart.parse_panel_line(raw)
