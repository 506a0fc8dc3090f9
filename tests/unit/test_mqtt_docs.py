"""The AsyncAPI document and JSON Schemas are generated from the payload types and must
not drift; real envelopes validate against them."""

import json
from datetime import UTC, datetime
from pathlib import Path

import jsonschema
import msgspec

from agent import events as ev
from agent.uplink import asyncapi, topics
from agent.uplink.envelope import SCHEMA_VERSION, Envelope, encode, uuid7
from agent.uplink.outbox import to_data

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_generated_docs_are_current() -> None:
    assert asyncapi.main(["--check"]) == 0, (
        "docs/asyncapi.json or docs/schemas are stale: run python -m agent.uplink.asyncapi"
    )


def test_every_route_has_a_channel_and_schema() -> None:
    doc = json.loads((DOCS / "asyncapi.json").read_text())
    addresses = {c["address"] for c in doc["channels"].values()}
    for route in topics.ROUTES.values():
        assert "{prefix}/{school}/{room}/" + route.topic in addresses
        assert (DOCS / "schemas" / f"{route.type}.json").exists()
    assert doc["asyncapi"].startswith("3.")


def test_real_envelopes_validate() -> None:
    now = datetime.now(UTC)
    samples = [
        ev.DeviceState(device_id="p1", kind="panel", status="online", attrs={"power": "on"},
                       last_seen=now),
        ev.DeviceFault(device_id="p1", kind="panel", status="fault", reason="no reply"),
        ev.AgentStatus(state="online", version="1", capabilities=["uplink"], started=now),
    ]
    for event in samples:
        route = topics.ROUTES[type(event)]
        env = Envelope(v=SCHEMA_VERSION, id=uuid7(), seq=1, ts=event.ts, school="s", room="r",
                       type=route.type, data=to_data(event))
        schema = json.loads((DOCS / "schemas" / f"{route.type}.json").read_text())
        jsonschema.validate(msgspec.json.decode(encode(env)), schema)


def test_uuid7_is_time_ordered_and_unique() -> None:
    ids = [uuid7() for _ in range(5000)]
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)
    assert all(i[14] == "7" for i in ids[:10])


def test_descriptions_do_not_depend_on_the_python_that_wrote_them() -> None:
    # Python 3.13 dedents docstrings at compile time, 3.11 keeps the indentation
    indented = {"description": "First line.\n\n    More, indented.\n    ", "x": [
        {"description": "  One line."}]}
    dedented = {"description": "First line.\n\nMore, indented.", "x": [
        {"description": "One line."}]}
    assert asyncapi._clean_docs(indented) == asyncapi._clean_docs(dedented) == dedented
