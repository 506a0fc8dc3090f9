"""The tablet protocol, version 1: JSON text frames over one WebSocket per tablet.

Every message is one JSON object with a ``type``. Client messages also carry ``id``
(unique per device; the gateway acknowledges it and never counts it twice). Unknown
*fields* are ignored so a minor app update can add optional fields; unknown *types*,
wrong field types and missing fields are errors. docs/tablet-protocol.md is the reference
for app makers; this module is the single definition the gateway and the emulator use.

``parse`` never raises anything but ``ProtocolError`` (with the error code to send back
and, when it could be read, the offending message's ``id``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

PROTOCOL_VERSION = 1

MsgId = Annotated[str, Meta(min_length=1, max_length=64)]
# device ids and roster sourcedIds: printable, no spaces, bounded
Ident = Annotated[str, Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:@/-]{0,127}$")]
ShortText = Annotated[str, Meta(max_length=128)]


class ProtocolError(Exception):
    """A message the gateway refuses: ``code`` goes into the error reply."""

    def __init__(self, code: str, message: str, ref: str | None = None) -> None:
        self.code = code
        self.message = message
        self.ref = ref
        super().__init__(f"{code}: {message}")


# --------------------------------------------------------------------------- tablet -> agent


class ClientMessage(msgspec.Struct, kw_only=True, tag_field="type"):
    id: MsgId
    sent_at: datetime | None = None  # tablet clock, informational


class Hello(ClientMessage, tag="hello"):
    protocol: int
    device_id: Ident
    student_id: Ident  # roster sourcedId of the student using the tablet
    app_version: ShortText = ""
    join_code: Annotated[str, Meta(max_length=128)] | None = None
    token: Annotated[str, Meta(max_length=512)] | None = None


class Heartbeat(ClientMessage, tag="heartbeat"):
    pass


class Checkin(ClientMessage, tag="checkin"):
    at: datetime | None = None  # when the student tapped "I'm here" (tablet clock)


class Answer(ClientMessage, tag="answer"):
    question_id: Ident
    choice: Annotated[str, Meta(min_length=1, max_length=64)] | None = None
    text: Annotated[str, Meta(max_length=2000)] | None = None
    time_to_answer_s: Annotated[float, Meta(ge=0, le=86400)] | None = None

    def __post_init__(self) -> None:
        if self.choice is None and self.text is None:
            raise ValueError("an answer needs `choice` or `text`")


class Hand(ClientMessage, tag="hand"):
    state: Literal["raise", "lower"]


class Focus(ClientMessage, tag="focus"):
    state: Literal["foreground", "background"]


class BroadcastAck(ClientMessage, tag="broadcast_ack"):
    broadcast_id: Ident


AssignmentKind = Literal["homework", "quiz", "practice"]
Subject = Annotated[str, Meta(min_length=1, max_length=64)]


class Assignment(ClientMessage, tag="assignment"):
    """From a teacher device only (device token with role ``teacher``): the gateway
    relays it to the class's tablets as an ``assignment`` server message."""

    assignment_id: Ident
    subject: Subject
    class_id: Ident
    kind: AssignmentKind = "homework"
    due: datetime | None = None
    title: ShortText = ""


class Submission(ClientMessage, tag="submission"):
    """A student hands in an assignment (one counted per student and assignment)."""

    assignment_id: Ident


CLIENT_TYPES: dict[str, type[ClientMessage]] = {
    "hello": Hello,
    "heartbeat": Heartbeat,
    "checkin": Checkin,
    "answer": Answer,
    "hand": Hand,
    "focus": Focus,
    "broadcast_ack": BroadcastAck,
    "assignment": Assignment,
    "submission": Submission,
}


class _Head(msgspec.Struct):
    """Just enough to route a message and name it in an error reply."""

    type: str
    id: Any = None


_head_decoder = msgspec.json.Decoder(_Head)
_decoders = {name: msgspec.json.Decoder(cls) for name, cls in CLIENT_TYPES.items()}


def parse(raw: str | bytes) -> ClientMessage:
    """One client frame -> a typed message, or ProtocolError."""
    try:
        head = _head_decoder.decode(raw)
    except msgspec.DecodeError as e:
        if isinstance(e, msgspec.ValidationError):
            raise ProtocolError("invalid_message", _where(e)) from None
        raise ProtocolError("malformed_json", "not valid JSON") from None
    except RecursionError:
        # msgspec recurses per nesting level even while skipping unknown fields: ~1000
        # levels (2 KB, under the size limit) blow the stack. Bad input, not an agent fault.
        raise ProtocolError("malformed_json", _TOO_DEEP) from None
    ref = head.id if isinstance(head.id, str) and 0 < len(head.id) <= 64 else None
    decoder = _decoders.get(head.type)
    if decoder is None:
        shown = head.type[:40]
        raise ProtocolError("unknown_type", f"unknown message type {shown!r}", ref)
    try:
        return decoder.decode(raw)
    except msgspec.DecodeError as e:  # ValidationError is a DecodeError
        raise ProtocolError("invalid_field", _where(e), ref) from None
    except RecursionError:  # the head decode can pass on a shallower stack
        raise ProtocolError("malformed_json", _TOO_DEEP, ref) from None


_TOO_DEEP = "not valid JSON (nested too deeply)"


def _where(err: msgspec.DecodeError) -> str:
    # msgspec: "Expected `str`, got `int` - at `$.question_id`" -> keep it, drop the "$."
    return str(err).replace("`$.", "`").replace("`$`", "the message")[:200]


# --------------------------------------------------------------------------- agent -> tablet


class ServerMessage(msgspec.Struct, kw_only=True, tag_field="type", omit_defaults=True):
    pass


class LessonInfo(msgspec.Struct, kw_only=True):
    lesson_id: str
    class_id: str
    start: datetime
    late_after: datetime


class QuestionMsg(ServerMessage, tag="question"):
    question_id: str
    prompt: str
    kind: Literal["choice", "text"] = "choice"
    choices: list[str] = msgspec.field(default_factory=list)
    lesson_id: str | None = None


class BroadcastMsg(ServerMessage, tag="broadcast"):
    broadcast_id: str
    title: str
    body: str = ""
    url: str | None = None
    needs_ack: bool = True


class AssignmentMsg(ServerMessage, tag="assignment"):
    """An assignment relayed to the tablets of its class."""

    assignment_id: str
    class_id: str
    subject: str
    kind: str = "homework"
    due: datetime | None = None
    title: str = ""


class Welcome(ServerMessage, tag="welcome"):
    protocol: int
    session_id: str
    server_time: datetime
    heartbeat_s: float
    max_message_bytes: int
    rate_per_s: float
    lesson: LessonInfo | None = None
    question: QuestionMsg | None = None
    checked_in: bool = False


class Ack(ServerMessage, tag="ack"):
    ref: str
    duplicate: bool = False


class Error(ServerMessage, tag="error"):
    code: str
    message: str
    ref: str | None = None
    retry: bool = False  # True: the message was not processed; resend it later


class LessonMsg(ServerMessage, tag="lesson"):
    lesson: LessonInfo | None


_encoder = msgspec.json.Encoder()


def encode(msg: ServerMessage | ClientMessage) -> str:
    return _encoder.encode(msg).decode()


def decode_server(raw: str | bytes) -> ServerMessage:
    """For tablet apps written in Python (the emulator, tests)."""
    return msgspec.json.decode(
        raw, type=Welcome | Ack | Error | QuestionMsg | BroadcastMsg | LessonMsg | AssignmentMsg
    )


# --------------------------------------------------------------------------- codes

# Error codes (``error.code``). Non-fatal unless followed by a close.
ERROR_CODES = {
    "malformed_json": "the frame is not valid JSON",
    "invalid_message": "not a JSON object with a string `type`",
    "unknown_type": "`type` is not a message type of this protocol version",
    "invalid_field": "a field is missing, has the wrong type or is out of range",
    "too_big": "the frame is larger than max_message_bytes",
    "binary_not_supported": "binary frames are not part of the protocol",
    "rate_limited": "too many messages; not processed, resend later",
    "not_authenticated": "the first message must be `hello`",
    "already_authenticated": "`hello` was already accepted on this connection",
    "unsupported_version": "the agent does not speak this protocol version",
    "auth_failed": "wrong or missing join code / device token",
    "unknown_student": "student_id is not on the class roster",
    "in_progress": "the same message id is being processed on another connection",
    "internal": "the agent could not process the message; resend it later",
    "forbidden": "this device's role may not send that message (an assignment needs a "
                 "teacher device token)",
    "unknown_assignment": "a submission for an assignment the agent does not know",
    "assignment_conflict": "that assignment_id is already used for another class or subject",
}

# WebSocket close codes the gateway uses (4000-4999 are application codes).
CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001  # agent shutting down: reconnect with backoff
CLOSE_TOO_BIG = 1009  # frame far above the limit (cut by the WebSocket layer)
CLOSE_INTERNAL = 1011
CLOSE_UNSUPPORTED_VERSION = 4000
CLOSE_AUTH_FAILED = 4001
CLOSE_HELLO_TIMEOUT = 4002
CLOSE_IDLE_TIMEOUT = 4003
CLOSE_TOO_MANY_ERRORS = 4004
CLOSE_RATE_LIMITED = 4005
CLOSE_SLOW_CONSUMER = 4006
CLOSE_REPLACED = 4007
CLOSE_GATEWAY_FULL = 4008

CLOSE_REASONS = {
    CLOSE_NORMAL: "normal",
    CLOSE_GOING_AWAY: "going_away",
    CLOSE_TOO_BIG: "too_big",
    CLOSE_INTERNAL: "internal",
    CLOSE_UNSUPPORTED_VERSION: "unsupported_version",
    CLOSE_AUTH_FAILED: "auth_failed",
    CLOSE_HELLO_TIMEOUT: "hello_timeout",
    CLOSE_IDLE_TIMEOUT: "idle_timeout",
    CLOSE_TOO_MANY_ERRORS: "too_many_errors",
    CLOSE_RATE_LIMITED: "rate_limited",
    CLOSE_SLOW_CONSUMER: "slow_consumer",
    CLOSE_REPLACED: "replaced",
    CLOSE_GATEWAY_FULL: "gateway_full",
}
