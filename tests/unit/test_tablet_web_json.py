"""Deeply nested JSON bodies are bad requests (400), not RecursionError -> HTTP 500.

json.loads recurses once per nesting level: a few KB of ``[[[[...`` exhausts the stack.
"""

from __future__ import annotations

import pytest

from agent.web import recording


class _Req:
    def __init__(self, body: bytes) -> None:
        self._body = body

    async def read(self) -> bytes:
        return self._body


DEEP = b'{"title": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"


async def test_recording_body_with_deep_nesting_is_a_bad_request():
    from agent.recording.service import RecordStartArgs

    with pytest.raises(recording._Bad) as info:
        await recording._body(_Req(DEEP), RecordStartArgs)
    assert info.value.code == "bad_request"
