"""Fuzz the ways a recording is started: ``POST /api/recording/start`` bodies and the
``record/start`` command's args. Whatever arrives: a 200/400/409 (or an ok / a known error
code), never a 500 or ``internal_error``, and the agent keeps answering.

One agent runs in a background thread for the module (hypothesis drives plain sync
tests); its camera is a missing file, so an accepted start costs no video work."""

from __future__ import annotations

import asyncio
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.config import from_dict
from tests.conftest import free_port

CODES_409 = {"already_recording", "not_recording", "unknown_camera", "not_configured"}
CODES_400 = {"bad_request", "bad_args"}
KEYS = ["title", "subject", "teacher", "lesson_id", "cameras", "trigger"]


class AgentThread:
    def __init__(self, data: Path) -> None:
        self.port = free_port()
        self.cfg = from_dict({
            "site": {"school": "s", "room": "r", "timezone": "UTC"},
            "storage": {"data_dir": str(data)},
            "web": {"listen": f"127.0.0.1:{self.port}"},
            "health": {"interval_s": 3600.0},
            "recording": {"probe_interval_s": 3600.0, "reconnect_max_s": 60.0},
            "cameras": [{"id": "teacher", "url": str(data / "missing.mp4")},
                        {"id": "board", "role": "board", "url": str(data / "missing2.mp4")}],
        })
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.agent: Any = None

    def _run(self) -> None:
        from agent.runtime.agent import Agent

        asyncio.set_event_loop(self.loop)
        self.agent = Agent(self.cfg)
        self.loop.run_until_complete(self.agent.run(on_ready=lambda ctx: self.ready.set()))
        self.loop.close()

    def __enter__(self) -> AgentThread:
        self.thread.start()
        assert self.ready.wait(30), "agent did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self.agent.request_stop)
        self.thread.join(30)

    def post(self, path: str, body: bytes) -> tuple[int, Any]:
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=body,
                                     method="POST", headers={"X-Requested-With": "test",
                                                             "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    def command(self, name: str, args: Any) -> Any:
        fut = asyncio.run_coroutine_threadsafe(self.agent.ctx.commands.dispatch(name, args),
                                               self.loop)
        return fut.result(30)


@pytest.fixture(scope="module")
def agent_thread(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AgentThread]:
    with AgentThread(tmp_path_factory.mktemp("fuzz")) as a:
        yield a


json_leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                      st.text(max_size=300))
json_any = st.recursive(json_leaf, lambda c: st.lists(c, max_size=4)
                        | st.dictionaries(st.text(max_size=10), c, max_size=4), max_leaves=12)
field_value = st.one_of(
    json_any,
    st.text(max_size=260),  # over and under the 200/100 length limits
    st.sampled_from(["teacher", "board", "nope", "", "..", "../../etc", "a/b", "\x00"]),
    st.lists(st.sampled_from(["teacher", "board", "nope", "", "\u00e9"]), max_size=4),
)
args_dict = st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=8), field_value,
                            max_size=6)
bodies = st.one_of(
    args_dict.map(lambda d: json.dumps(d).encode()),
    json_any.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=200),
    st.sampled_from([b"", b"   ", b"{", b"null", b"[]", b'{"title": 1}', b"\xff\xfe"]),
)
FUZZ = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])


def _stop_if_recording(a: AgentThread) -> None:
    if a.agent.ctx.services["recording"].session is not None:
        status, body = a.post("/api/recording/stop", b"")
        assert status == 200, body


@FUZZ
@given(body=bodies)
def test_http_start_never_500(agent_thread: AgentThread, body: bytes) -> None:
    status, doc = agent_thread.post("/api/recording/start", body)
    try:
        if status == 200:
            assert doc["recording_id"] and doc["cameras"]
        elif status == 400:
            assert doc["error"]["code"] in CODES_400 and doc["error"]["message"]
        else:
            assert status == 409, (status, doc)
            assert doc["error"]["code"] in CODES_409 and doc["error"]["message"]
    finally:
        _stop_if_recording(agent_thread)


@FUZZ
@given(args=st.one_of(args_dict, json_any))
def test_record_start_command_never_crashes(agent_thread: AgentThread, args: Any) -> None:
    res = agent_thread.command("record/start", args)
    try:
        if res.ok:
            assert res.result["recording_id"]
        else:
            assert res.error["code"] in CODES_400 | CODES_409, res.error
    finally:
        _stop_if_recording(agent_thread)


def test_still_answering_after_the_fuzz(agent_thread: AgentThread) -> None:
    status, doc = agent_thread.post("/api/recording/start", b'{"title": "after"}')
    assert status == 200, doc
    status, doc = agent_thread.post("/api/recording/stop", b"{}")
    assert status == 200 and doc["state"] == "failed"  # the camera file does not exist
    res = agent_thread.command("record/stop", {})
    assert not res.ok and res.error["code"] == "not_recording"
