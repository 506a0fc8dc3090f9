"""Generates the MQTT API documents from the payload types in code: docs/asyncapi.json
(AsyncAPI 3.0) and docs/schemas/*.json (one JSON Schema per envelope type).

    python -m agent.uplink.asyncapi            # rewrite the files
    python -m agent.uplink.asyncapi --check    # exit 1 if they differ (the test does this)
"""

from __future__ import annotations

import argparse
import inspect
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import msgspec

from agent import __version__
from agent.uplink import topics
from agent.uplink.commands import CommandReply, CommandRequest

DOCS = Path(__file__).resolve().parents[2] / "docs"

ENVELOPE_DOC = (
    "Every payload is this JSON envelope. `id` is a UUIDv7 (time-ordered, unique): consumers "
    "dedupe on it, delivery is at-least-once. `seq` counts per topic from 1 and survives "
    "restarts, so a gap in it means lost data. `ts` is the event time (RFC 3339, UTC)."
)


def _envelope_for(type_name: str, data_type: Any) -> type[msgspec.Struct]:
    """An Envelope struct whose ``data`` is ``data_type``: one named schema per message."""
    name = "".join(p.capitalize() for p in type_name.split("_")) + "Message"
    return msgspec.defstruct(
        name,
        [("v", int), ("id", str), ("seq", int), ("ts", datetime), ("school", str),
         ("room", str), ("type", str), ("data", data_type)],
        kw_only=True,
    )


def _data_type(event_type: type[msgspec.Struct]) -> type[msgspec.Struct]:
    # the envelope carries the event's time, so ``data`` is the event without ``ts``
    fields = [(f.name, f.type, f.default if f.default is not msgspec.NODEFAULT
               else msgspec.field(default_factory=f.default_factory)
               if f.default_factory is not msgspec.NODEFAULT else msgspec.NODEFAULT)
              for f in msgspec.structs.fields(event_type) if f.name != "ts"]
    shaped: list[tuple[str, Any] | tuple[str, Any, Any]] = [
        (n, t) if d is msgspec.NODEFAULT else (n, t, d) for n, t, d in fields]
    return msgspec.defstruct(event_type.__name__, shaped, kw_only=True,
                             module=event_type.__module__)


def messages() -> list[tuple[str, str, str, bool, int, type[msgspec.Struct]]]:
    """(type, channel address, direction, retained, priority, payload struct)."""
    out = []
    for ev_type, route in topics.ROUTES.items():
        out.append((route.type, route.topic, "send", route.retained, route.priority,
                    _envelope_for(route.type, _data_type(ev_type))))
    out.append(("cmd_request", "cmd/{command}", "receive", False, -1, CommandRequest))
    out.append(("cmd_reply", "cmd/{command}/reply", "send", False, -1,
                _envelope_for("cmd_reply", CommandReply)))
    return out


_KEYS = {route.type: route.describe_key() for route in topics.ROUTES.values()}


def build() -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    msgs = messages()
    structs = [m[5] for m in msgs]
    (schema_refs, components) = msgspec.json.schema_components(
        structs, ref_template="#/components/schemas/{name}"
    )
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    comp_messages: dict[str, Any] = {}
    params = {"prefix": {"description": "mqtt.topic_prefix (default: classroom)"},
              "school": {"description": "site.school"}, "room": {"description": "site.room"}}
    for (type_name, address, action, retained, prio, _), ref in zip(msgs, schema_refs,
                                                                    strict=True):
        channel_id = address.replace("/", "_").replace("{", "").replace("}", "")
        ch_params = dict(params)
        for part in address.split("/"):
            if part.startswith("{"):
                ch_params[part.strip("{}")] = {"description": f"the {part.strip('{}')}"}
        desc = []
        if retained:
            desc.append("Retained: the broker keeps the latest; re-sent after every reconnect.")
        if prio >= 0:
            desc.append(f"Outbox priority: {topics.PRIORITY_NAMES[prio]} "
                        "(when the outbox is full, lower priorities are dropped first).")
        channels.setdefault(channel_id, {
            "address": "{prefix}/{school}/{room}/" + address,
            "parameters": ch_params,
            "messages": {},
            **({"description": " ".join(desc)} if desc else {}),
        })["messages"][type_name] = {"$ref": f"#/components/messages/{type_name}"}
        comp_messages[type_name] = {
            "name": type_name,
            "contentType": "application/json",
            "payload": ref,
            **({"description": " ".join(filter(None, [ENVELOPE_DOC, _KEYS.get(type_name)]))}
               if type_name != "cmd_request" else {
                "description": "A command request. Empty payload = no args. MQTT 5 "
                               "ResponseTopic / CorrelationData are honoured."}),
        }
        op = ("receive" if action == "send" else "send") + "_" + type_name
        # AsyncAPI describes the application: the agent sends data, receives commands
        operations[op] = {
            "action": action,
            "channel": {"$ref": f"#/channels/{channel_id}"},
            "messages": [{"$ref": f"#/channels/{channel_id}/messages/{type_name}"}],
        }
    doc = {
        "asyncapi": "3.0.0",
        "info": {
            "title": "classroom-agent district uplink",
            "version": __version__,
            "description": "MQTT topics and payloads of one classroom agent. QoS 1 for data, "
                           "at-least-once; see docs/mqtt.md.",
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {"messages": comp_messages, "schemas": components},
    }
    schemas = {}
    for type_name, *_rest, struct in msgs:
        schemas[type_name] = msgspec.json.schema(struct)
    return doc, schemas


def _clean_docs(obj: Any) -> Any:
    """Descriptions as ``inspect.cleandoc`` gives them. msgspec takes them from docstrings,
    which Python 3.13 dedents when compiling and 3.11 does not: without this the generated
    files would differ by the Python that wrote them."""
    if isinstance(obj, dict):
        return {k: inspect.cleandoc(v) if k == "description" and isinstance(v, str)
                else _clean_docs(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_clean_docs(v) for v in obj]
    return obj


def _dump(obj: Any) -> str:
    return json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def files() -> dict[Path, str]:
    doc, schemas = _clean_docs(build())
    out = {DOCS / "asyncapi.json": _dump(doc)}
    for name, schema in schemas.items():
        out[DOCS / "schemas" / f"{name}.json"] = _dump(schema)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="fail if the files are out of date")
    args = ap.parse_args(argv)
    wanted = files()
    stale = [p for p, text in wanted.items() if not p.exists() or p.read_text() != text]
    existing = set((DOCS / "schemas").glob("*.json")) if (DOCS / "schemas").exists() else set()
    extra = sorted(existing - set(wanted))
    if args.check:
        for p in stale + extra:
            print(f"out of date: {p.relative_to(DOCS.parent)}", file=sys.stderr)
        return 1 if stale or extra else 0
    for p in extra:
        p.unlink()
    for p in stale:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(wanted[p])
    print(f"wrote {len(stale)} file(s), removed {len(extra)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
