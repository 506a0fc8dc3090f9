"""Fuzz the ways a live lesson is started and stopped: ``POST /api/live/start|stop`` bodies
and the ``live/start`` / ``live/stop`` command args. Whatever arrives: 200/400/409 (an ok
or a known error code), never a 500 or ``internal_error``, and the agent keeps answering.
The agent of tests/integration/test_recording_fuzz.py (missing camera files: an accepted
start costs no video work) with a streaming server nobody listens on."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.config import LiveConfig
from tests.conftest import free_port
from tests.integration.test_recording_fuzz import FUZZ, AgentThread, json_any

CODES_409 = {"already_live", "not_live", "not_configured", "bad_config", "no_camera",
             "camera_not_recorded"}
CODES_400 = {"bad_request", "bad_args"}

args_dict = st.dictionaries(st.sampled_from(["trigger"]) | st.text(max_size=8),
                            json_any | st.text(max_size=150), max_size=4)
bodies = st.one_of(
    args_dict.map(lambda d: json.dumps(d).encode()),
    json_any.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=200),
    st.sampled_from([b"", b"{", b"null", b"[]", b'{"trigger": 1}', b'{"trigger": "panel"}']),
)


@pytest.fixture(scope="module")
def agent_thread(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AgentThread]:
    a = AgentThread(tmp_path_factory.mktemp("livefuzz"))
    a.cfg = msgspec.structs.replace(a.cfg, live=LiveConfig(
        url=f"rtmp://127.0.0.1:{free_port()}/live/fuzz-key", backoff_max_s=5.0))
    with a:
        yield a


def _check(status: int, doc: Any, ok_key: str) -> None:
    if status == 200:
        assert doc[ok_key]
    elif status == 400:
        assert doc["error"]["code"] in CODES_400 and doc["error"]["message"]
    else:
        assert status == 409, (status, doc)
        assert doc["error"]["code"] in CODES_409 and doc["error"]["message"]
    assert "fuzz-key" not in json.dumps(doc)


def _stop_all(a: AgentThread) -> None:
    if a.agent.ctx.services["live"].session is not None:
        status, body = a.post("/api/live/stop", b"")
        assert status == 200, body
    if a.agent.ctx.services["recording"].session is not None:
        status, body = a.post("/api/recording/stop", b"")
        assert status == 200, body


@FUZZ
@given(start=bodies, stop=bodies)
def test_http_never_500(agent_thread: AgentThread, start: bytes, stop: bytes) -> None:
    try:
        _check(*agent_thread.post("/api/live/start", start), "live_id")
        _check(*agent_thread.post("/api/live/stop", stop), "live_id")
    finally:
        _stop_all(agent_thread)


@FUZZ
@given(args=st.one_of(args_dict, json_any), name=st.sampled_from(["live/start", "live/stop"]))
def test_commands_never_crash(agent_thread: AgentThread, args: Any, name: str) -> None:
    res = agent_thread.command(name, args)
    try:
        if res.ok:
            assert res.result["live_id"]
        else:
            assert res.error["code"] in CODES_400 | CODES_409, res.error
    finally:
        _stop_all(agent_thread)


def test_still_answering_after_the_fuzz(agent_thread: AgentThread) -> None:
    status, doc = agent_thread.post("/api/live/start", b"{}")
    assert status == 200, doc
    status, doc = agent_thread.post("/api/live/stop", b"{}")
    assert status == 200 and doc["state"] == "stopped"
    res = agent_thread.command("live/stop", {})
    assert not res.ok and res.error["code"] == "not_live"
