"""The one JSON envelope every MQTT payload travels in.

``{"v": 1, "id": "<UUIDv7>", "seq": n, "ts": "<RFC 3339 UTC>", "school", "room", "type",
"data"}``. ``id`` is time-ordered and unique: consumers dedupe on it (delivery is
at-least-once). ``seq`` counts per topic so a consumer can see gaps.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
import uuid
from datetime import datetime
from typing import Any

import msgspec

SCHEMA_VERSION = 1


class Envelope(msgspec.Struct, kw_only=True):
    v: int
    id: str
    seq: int
    ts: datetime
    school: str
    room: str
    type: str
    data: Any


_lock = threading.Lock()
_last_ms = 0
_counter = 0


def uuid7() -> str:
    """RFC 9562 UUIDv7: 48-bit ms timestamp, 12-bit counter (monotonic within a ms), random."""
    global _last_ms, _counter
    with _lock:
        ms = time.time_ns() // 1_000_000
        if ms <= _last_ms:
            ms = _last_ms
            _counter += 1
            if _counter > 0xFFF:  # counter spent: borrow the next millisecond
                ms += 1
                _counter = 0
        else:
            _counter = int.from_bytes(os.urandom(2)) & 0x3FF  # leave headroom to count up
        _last_ms = ms
        counter = _counter
    rand = int.from_bytes(os.urandom(8)) & ((1 << 62) - 1)
    value = (ms << 80) | (0x7 << 76) | (counter << 64) | (0b10 << 62) | rand
    return str(uuid.UUID(int=value))


def uuid7_for(ts: datetime, key: str) -> str:
    """A UUIDv7 fixed by a record's identity: the event time's ms and 74 bits of SHA-256 of
    ``key``. The same record sent again (after a crash between storing it and its PUBACK)
    gets the same id, so consumers that dedupe on ``id`` count it once; a different key
    (another lesson, a higher revision) gets a different id."""
    ms = int(ts.timestamp() * 1000) & ((1 << 48) - 1)
    h = int.from_bytes(hashlib.sha256(key.encode()).digest()[:10])
    counter, rand = h >> 68, h & ((1 << 62) - 1)
    value = (ms << 80) | (0x7 << 76) | (counter << 64) | (0b10 << 62) | rand
    return str(uuid.UUID(int=value))


_encoder = msgspec.json.Encoder()


def encode(env: Envelope) -> bytes:
    return _encoder.encode(env)


def decode(payload: bytes) -> Envelope:
    return msgspec.json.decode(payload, type=Envelope)
