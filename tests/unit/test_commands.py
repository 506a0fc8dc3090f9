"""Command parsing and dispatch: every bad request gets an error reply, never an exception."""

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.commands import CommandError, CommandRegistry, NoArgs
from agent.uplink.commands import handle


class EchoArgs(msgspec.Struct, forbid_unknown_fields=True):
    text: str
    times: int = 1


def registry() -> CommandRegistry:
    outcomes: list[tuple[str, str]] = []
    reg = CommandRegistry(lambda n, o: outcomes.append((n, o)))
    reg.outcomes = outcomes  # type: ignore[attr-defined]

    async def ping(_: NoArgs) -> dict:
        return {"pong": True}

    async def echo(a: EchoArgs) -> dict:
        if a.times < 0:
            raise CommandError("bad_times", "times must be >= 0")
        return {"text": a.text * a.times}

    async def broken(_: NoArgs) -> None:
        raise RuntimeError("bug")

    reg.register("ping", ping)
    reg.register("echo", echo, EchoArgs)
    reg.register("broken", broken)
    return reg


async def test_ok_and_correlation_id() -> None:
    reply, outcome = await handle(registry(), "echo", b'{"id":"c1","args":{"text":"a","times":3}}',
                                  1000)
    assert reply.ok and reply.id == "c1" and reply.result == {"text": "aaa"} and outcome == "ok"
    reply, _ = await handle(registry(), "ping", b"", 1000)
    assert reply.ok and reply.result == {"pong": True}


async def test_errors_are_replies() -> None:
    reg = registry()
    cases = {
        b"{not json": "bad_json",
        b"[1,2]": "bad_request",
        b'{"id": 5}': "bad_request",
        b'{"args": {"text": 1}}': "bad_args",
        b'{"args": {"text": "a", "extra": 1}}': "bad_args",
        b'{"args": {"text": "a", "times": -1}}': "bad_times",
    }
    for payload, code in cases.items():
        reply, outcome = await handle(reg, "echo", payload, 1000)
        assert not reply.ok and reply.error["code"] == code, (payload, reply)
    reply, _ = await handle(reg, "nope", b"{}", 1000)
    assert reply.error["code"] == "unknown_command"
    reply, _ = await handle(reg, "broken", b"{}", 1000)
    assert reply.error["code"] == "internal_error"
    reply, outcome = await handle(reg, "ping", b"x" * 2000, 1000)
    assert outcome == "too_large"
    assert ("(unknown)", "unknown_command") in reg.outcomes  # counted, never crashing


@settings(max_examples=300, deadline=None)
@given(name=st.sampled_from(["ping", "echo", "broken", "nope", ""]),
       payload=st.one_of(st.binary(max_size=300),
                         st.recursive(st.none() | st.booleans() | st.integers() | st.text(),
                                      lambda c: st.lists(c) | st.dictionaries(st.text(), c),
                                      max_leaves=20).map(msgspec.json.encode)))
async def test_fuzz_never_raises(name: str, payload: bytes) -> None:
    reply, outcome = await handle(registry(), name, payload, 256)
    assert reply.ok == (outcome == "ok")
    assert reply.ok or reply.error["code"]


async def test_deep_nesting_is_bad_json_not_a_crash() -> None:
    payload = b'{"args": ' + b'{"a":' * 3000 + b"1" + b"}" * 3000 + b"}"
    reply, outcome = await handle(registry(), "echo", payload, 100_000)
    assert not reply.ok and outcome in ("bad_json", "bad_args", "bad_request")


def test_screen_refuses_what_does_not_parse_before_dispatch() -> None:
    from agent.uplink.commands import screen

    reg = registry()
    assert screen(reg, "echo", b'{"args": {"text": "a"}}', 1000) is None
    assert screen(reg, "ping", b"", 1000) is None
    assert screen(reg, "echo", b'{"args": {"text": 1}}', 1000) is None  # bad_args: dispatch's
    assert screen(reg, "echo", b"{x", 1000) == "bad_json"
    assert screen(reg, "echo", b"[1]", 1000) == "bad_request"
    assert screen(reg, "echo", b"x" * 1001, 1000) == "too_large"
    assert screen(reg, "nope", b"{}", 1000) == "unknown_command"


def test_log_throttle_holds_back_and_tells_how_many() -> None:
    import logging

    from agent.uplink.commands import LogThrottle

    now = {"t": 0.0}
    lines: list[str] = []

    class Catch(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    logger = logging.getLogger("test.throttle")
    logger.addHandler(Catch())
    th = LogThrottle(logger, interval_s=10, clock=lambda: now["t"])
    assert [th.warning("k", "bad %d", i) for i in range(300)].count(True) == 1
    now["t"] = 11.0
    assert th.warning("k", "bad %d", 300)
    assert lines == ["bad 0", "bad 300 (and 299 more like it in the last 11 s)"]
