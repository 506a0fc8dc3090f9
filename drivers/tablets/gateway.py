"""The tablet gateway: sessions, auth, acks, dedupe and protection, for any transport.

The transport (``agent/web/tablets.py`` for aiohttp WebSockets, an in-memory pipe in
tests) wraps each connection in a ``Connection`` and awaits ``Gateway.serve(conn)``. The
gateway knows nothing of lessons or rosters: a ``GatewayHandler`` (the agent's tablet
service) authorises students and processes the messages that passed every check.

Per connection, in order: hello within ``hello_timeout_s`` (protocol version, join code
or device token, then the handler's roster check); then for every frame: size limit,
token-bucket rate limit, parse (malformed JSON, unknown type, wrong field types), dedupe
of the message id, processing, and an ``ack`` (or an ``error``). Nothing received for
``heartbeat_timeout_s`` closes the connection. Each session has its own bounded send queue
and writer task, so a tablet that does not read (or a slow link) is closed with
``slow_consumer`` instead of holding up pushes to the others. Faults in one session never
reach another: every session runs in its own task and ``serve`` never raises.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import itertools
import logging
import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple, Protocol

from drivers.tablets import protocol as p
from drivers.tablets.dedupe import BUSY, DUPLICATE, SeenStore
from drivers.tablets.ratelimit import TokenBucket

log = logging.getLogger(__name__)


class Incoming(NamedTuple):
    kind: str  # text | binary | too_big | closed | timeout
    data: str | None = None


class Connection(Protocol):
    remote: str

    async def receive(self, timeout: float) -> Incoming: ...

    async def send_text(self, text: str) -> None: ...

    async def close(self, code: int, reason: str) -> None: ...

    def abort(self) -> None:
        """Drop the connection now, without a closing handshake."""


class AuthError(Exception):
    def __init__(self, code: str, message: str, close_code: int = p.CLOSE_AUTH_FAILED) -> None:
        self.code = code
        self.message = message
        self.close_code = close_code
        super().__init__(message)


class Reject(Exception):
    """The handler refuses a message for good (``retry`` False) or for now (True)."""

    def __init__(self, code: str, message: str, retry: bool = False) -> None:
        self.code = code
        self.message = message
        self.retry = retry
        super().__init__(message)


class GatewayHandler(Protocol):
    def authorize(self, session: Session, hello: p.Hello) -> None:
        """Raise AuthError to refuse (e.g. student not on the roster)."""

    def welcome(self, session: Session) -> dict[str, Any]:
        """Extra Welcome fields: lesson, question, checked_in."""

    async def handle(self, session: Session, msg: p.ClientMessage) -> None:
        """Process one new (not replayed) message; raise Reject to refuse it."""

    def connected(self, session: Session) -> None: ...

    def disconnected(self, session: Session) -> None: ...


class Observer:
    """Hooks for metrics; the default does nothing."""

    def message(self, type_: str) -> None: ...

    def error(self, code: str) -> None: ...

    def closed(self, reason: str) -> None: ...

    def ack(self, seconds: float, duplicate: bool) -> None: ...


@dataclass
class GatewaySettings:
    max_message_bytes: int = 8192
    rate_per_s: float = 20.0
    rate_burst: int = 40
    heartbeat_s: float = 15.0  # what tablets are told to keep
    heartbeat_timeout_s: float = 45.0  # silence before the agent closes
    hello_timeout_s: float = 10.0
    send_queue_max: int = 256
    send_timeout_s: float = 10.0
    max_sessions: int = 200
    max_errors: int = 50  # protocol errors on one connection before it is closed
    flood_close_after: int = 200  # rate-limited frames in a row before it is closed
    join_code: str | None = None
    device_tokens: dict[str, str] = field(default_factory=dict)
    # device_id -> role of a token-authenticated device ("teacher"); anything else and
    # every join-code device is a "student"
    device_roles: dict[str, str] = field(default_factory=dict)


_session_ids = itertools.count(1)


class Session:
    """One authenticated tablet connection."""

    def __init__(self, gateway: Gateway, conn: Connection, hello: p.Hello) -> None:
        self.gateway = gateway
        self.conn = conn
        self.id = f"{os.getpid():x}-{next(_session_ids)}"
        self.device_id = hello.device_id
        self.student_id = hello.student_id
        self.app_version = hello.app_version
        self.role = "student"  # "teacher": authenticated by a device token with that role
        self.remote = conn.remote
        self.connected_at = datetime.now(UTC)
        self.last_seen = time.monotonic()
        self.received = 0
        self.errors = 0
        self.attrs: dict[str, Any] = {}  # for the handler (hand up, background ...)
        self._queue: asyncio.Queue[str | None] = asyncio.Queue(gateway.settings.send_queue_max)
        self._writer: asyncio.Task[None] | None = None
        self.closing: tuple[int, str] | None = None

    def push(self, msg: p.ServerMessage | str) -> bool:
        """Queue one message to this tablet without waiting; False if it was not queued."""
        if self.closing:
            return False
        text = msg if isinstance(msg, str) else p.encode(msg)
        try:
            self._queue.put_nowait(text)
        except asyncio.QueueFull:
            self.abort(p.CLOSE_SLOW_CONSUMER)
            return False
        return True

    def abort(self, code: int) -> None:
        """Close from outside the session's own task (slow consumer, replaced)."""
        if self.closing:
            return
        self.closing = (code, p.CLOSE_REASONS.get(code, "closed"))
        self.gateway._spawn(_close_or_kill(self.conn, code, self.closing[1]))

    async def _write_loop(self) -> None:
        timeout = self.gateway.settings.send_timeout_s
        while True:
            text = await self._queue.get()
            if text is None:
                return
            try:
                async with asyncio.timeout(timeout):
                    await self.conn.send_text(text)
            except TimeoutError:
                self.abort(p.CLOSE_SLOW_CONSUMER)
                return
            except Exception:  # connection gone: the reader notices and cleans up
                return

    async def _flush(self, timeout: float = 1.0) -> None:
        """Let queued replies (an error before a close) go out, briefly."""
        if self._writer is None or self._writer.done():
            return
        self._queue_put_stop()
        with contextlib.suppress(TimeoutError, asyncio.CancelledError, Exception):
            async with asyncio.timeout(timeout):
                await asyncio.shield(self._writer)

    def _queue_put_stop(self) -> None:
        try:
            self._queue.put_nowait(None)
        except asyncio.QueueFull:
            if self._writer:
                self._writer.cancel()


class Gateway:
    def __init__(
        self,
        settings: GatewaySettings,
        handler: GatewayHandler,
        seen: SeenStore,
        observer: Observer | None = None,
    ) -> None:
        self.settings = settings
        self.handler = handler
        self.seen = seen
        self.observer = observer or Observer()
        self.sessions: dict[str, Session] = {}  # by device_id
        self.counters: Counter[str] = Counter()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closing = False
        self.now: Callable[[], datetime] = lambda: datetime.now(UTC)

    # ------------------------------------------------------------------ public

    def broadcast(self, msg: p.ServerMessage) -> int:
        """Push to every connected tablet; returns how many it was queued for."""
        text = p.encode(msg)
        return sum(1 for s in list(self.sessions.values()) if s.push(text))

    def send_to(self, msg: p.ServerMessage, want: Callable[[Session], bool]) -> int:
        """Push to the connected tablets ``want`` selects; returns how many."""
        text = p.encode(msg)
        return sum(1 for s in list(self.sessions.values()) if want(s) and s.push(text))

    async def close_all(self, code: int = p.CLOSE_GOING_AWAY) -> None:
        self._closing = True
        for s in list(self.sessions.values()):
            s.abort(code)
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=3.0)

    async def serve(self, conn: Connection) -> None:
        """Run one connection to its end. Never raises."""
        session: Session | None = None
        try:
            session = await self._handshake(conn)
            if session is not None:
                await self._session_loop(session)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("tablet gateway: session from %s failed", conn.remote)
            self._count_error("internal")
            await self._close(conn, session, p.CLOSE_INTERNAL)
        finally:
            if session is not None:
                await self._unregister(session)

    # ------------------------------------------------------------------ handshake

    async def _handshake(self, conn: Connection) -> Session | None:
        st = self.settings
        inc = await conn.receive(st.hello_timeout_s)
        if inc.kind == "closed":
            self._count_close("client_closed")
            return None
        if inc.kind == "timeout":
            await self._refuse(conn, None, "not_authenticated", "no hello received in time",
                               p.CLOSE_HELLO_TIMEOUT)
            return None
        if inc.kind != "text" or inc.data is None or len(inc.data) > st.max_message_bytes:
            code = "binary_not_supported" if inc.kind == "binary" else "too_big"
            await self._refuse(conn, None, code, "the first message must be a JSON `hello`",
                               p.CLOSE_AUTH_FAILED)
            return None
        try:
            msg = p.parse(inc.data)
        except p.ProtocolError as e:
            await self._refuse(conn, e.ref, e.code, e.message, p.CLOSE_AUTH_FAILED)
            return None
        if not isinstance(msg, p.Hello):
            await self._refuse(conn, msg.id, "not_authenticated",
                               "the first message must be `hello`", p.CLOSE_AUTH_FAILED)
            return None
        if msg.protocol != p.PROTOCOL_VERSION:
            await self._refuse(conn, msg.id, "unsupported_version",
                               f"protocol {msg.protocol} not supported; this agent speaks "
                               f"{p.PROTOCOL_VERSION}", p.CLOSE_UNSUPPORTED_VERSION)
            return None
        if self._closing:
            await self._refuse(conn, msg.id, "internal", "agent shutting down",
                               p.CLOSE_GOING_AWAY, retry=True)
            return None
        try:
            self._check_credentials(msg)
            session = Session(self, conn, msg)
            if msg.token is not None:
                session.role = st.device_roles.get(msg.device_id, "student")
            self.handler.authorize(session, msg)
        except AuthError as e:
            await self._refuse(conn, msg.id, e.code, e.message, e.close_code)
            return None
        old = self.sessions.get(msg.device_id)
        if old is None and len(self.sessions) >= st.max_sessions:
            await self._refuse(conn, msg.id, "internal", "too many tablets connected",
                               p.CLOSE_GATEWAY_FULL, retry=True)
            return None
        if old is not None:
            # the same tablet again: its old connection is dead or half-open
            old.abort(p.CLOSE_REPLACED)
        self.sessions[msg.device_id] = session
        session._writer = asyncio.create_task(session._write_loop(), name=f"tablet-tx-{session.id}")
        self.observer.message("hello")
        self.counters["message.hello"] += 1
        extra = self.handler.welcome(session)
        session.push(p.Welcome(
            protocol=p.PROTOCOL_VERSION,
            session_id=session.id,
            server_time=self.now(),
            heartbeat_s=st.heartbeat_s,
            max_message_bytes=st.max_message_bytes,
            rate_per_s=st.rate_per_s,
            **extra,
        ))
        self.handler.connected(session)
        return session

    def _check_credentials(self, hello: p.Hello) -> None:
        st = self.settings
        if hello.token is not None:
            want = st.device_tokens.get(hello.device_id)
            if want is not None and hmac.compare_digest(want.encode(), hello.token.encode()):
                return
            raise AuthError("auth_failed", "unknown device or wrong device token")
        if hello.join_code is not None:
            if st.join_code and hmac.compare_digest(st.join_code.encode(),
                                                    hello.join_code.encode()):
                return
            raise AuthError("auth_failed", "wrong class join code")
        raise AuthError("auth_failed", "hello needs `join_code` or `token`")

    async def _refuse(
        self, conn: Connection, ref: str | None, code: str, message: str, close_code: int,
        retry: bool = False,
    ) -> None:
        self._count_error(code)
        with contextlib.suppress(Exception):
            async with asyncio.timeout(2.0):
                await conn.send_text(p.encode(p.Error(code=code, message=message, ref=ref,
                                                      retry=retry)))
        await self._close(conn, None, close_code)

    # ------------------------------------------------------------------ session

    async def _session_loop(self, s: Session) -> None:
        st = self.settings
        bucket = TokenBucket(st.rate_per_s, st.rate_burst)
        limited_in_row = 0
        while s.closing is None:
            if s.errors > st.max_errors:
                await self._close(s.conn, s, p.CLOSE_TOO_MANY_ERRORS)
                return
            inc = await s.conn.receive(st.heartbeat_timeout_s)
            t0 = time.perf_counter()
            if inc.kind == "closed":
                if s.closing is None:
                    self._count_close("client_closed")
                return
            if inc.kind == "timeout":
                self._count_error("idle_timeout")
                await self._close(s.conn, s, p.CLOSE_IDLE_TIMEOUT)
                return
            if inc.kind == "too_big":
                # the transport cut an oversized frame: the stream is unusable
                self._count_error("too_big")
                await self._close(s.conn, s, p.CLOSE_TOO_BIG)
                return
            s.last_seen = time.monotonic()
            s.received += 1
            if not bucket.take():
                limited_in_row += 1
                self._count_error("rate_limited")
                if limited_in_row > st.flood_close_after:
                    await self._close(s.conn, s, p.CLOSE_RATE_LIMITED)
                    return
                if limited_in_row == 1:  # one reply per streak: never amplify a flood
                    s.push(p.Error(code="rate_limited", retry=True,
                                   message=f"more than {st.rate_per_s:g} messages/s; resend "
                                           "unacknowledged messages later"))
                continue
            limited_in_row = 0
            if inc.kind == "binary":
                await self._protocol_error(s, None, "binary_not_supported",
                                           "send JSON text frames")
                continue
            data = inc.data or ""
            if len(data) > st.max_message_bytes:  # characters >= bytes/4: a cheap pre-check
                await self._protocol_error(s, None, "too_big",
                                           f"message over {st.max_message_bytes} bytes")
                continue
            raw = data.encode()
            if len(raw) > st.max_message_bytes:
                await self._protocol_error(s, None, "too_big",
                                           f"message over {st.max_message_bytes} bytes")
                continue
            try:
                msg = p.parse(raw)
            except p.ProtocolError as e:
                await self._protocol_error(s, e.ref, e.code, e.message)
                continue
            await self._dispatch(s, msg, t0)

    async def _dispatch(self, s: Session, msg: p.ClientMessage, t0: float) -> None:
        type_ = _TYPE_NAMES[type(msg)]
        self.observer.message(type_)
        self.counters[f"message.{type_}"] += 1
        if isinstance(msg, p.Hello):
            await self._protocol_error(s, msg.id, "already_authenticated",
                                       "hello was already accepted on this connection")
            return
        if isinstance(msg, p.Heartbeat):
            self._ack(s, msg.id, t0, False)
            return
        try:
            state = await self.seen.claim(s.device_id, msg.id)
        except Exception as e:  # the dedupe store could not write: nothing was counted
            log.error("tablet gateway: claiming %s from %s failed: %s", msg.id, s.device_id, e)
            self._count_error("internal")
            s.push(p.Error(code="internal", ref=msg.id, retry=True,
                           message="could not record the message; resend later"))
            return
        if state == DUPLICATE:
            self.counters["duplicate"] += 1
            self._ack(s, msg.id, t0, True)
            return
        if state == BUSY:
            s.push(p.Error(code="in_progress", ref=msg.id, retry=True,
                           message="this message id is being processed; resend later"))
            return
        try:
            await self.handler.handle(s, msg)
        except asyncio.CancelledError:
            self.seen.abandon(s.device_id, msg.id)
            raise
        except Reject as r:
            self.seen.release(s.device_id, msg.id)
            self._count_error(r.code)
            s.push(p.Error(code=r.code, message=r.message, ref=msg.id, retry=r.retry))
            return
        except Exception as e:
            log.exception("tablet gateway: handling %s from %s failed", type_, s.device_id)
            self.seen.release(s.device_id, msg.id)
            self._count_error("internal")
            s.push(p.Error(code="internal", ref=msg.id, retry=True,
                           message=f"could not process ({type(e).__name__}); resend later"))
            return
        self.seen.done(s.device_id, msg.id)
        self._ack(s, msg.id, t0, False)

    def _ack(self, s: Session, ref: str, t0: float, duplicate: bool) -> None:
        s.push(p.Ack(ref=ref, duplicate=duplicate))
        self.observer.ack(time.perf_counter() - t0, duplicate)

    async def _protocol_error(self, s: Session, ref: str | None, code: str, message: str) -> None:
        s.errors += 1
        self._count_error(code)
        s.push(p.Error(code=code, message=message, ref=ref))

    # ------------------------------------------------------------------ plumbing

    async def _close(self, conn: Connection, s: Session | None, code: int) -> None:
        reason = p.CLOSE_REASONS.get(code, "closed")
        if s is not None:
            if s.closing is None:
                s.closing = (code, reason)
            await s._flush()
        self._count_close(reason)
        await _close_or_kill(conn, code, reason)

    async def _unregister(self, s: Session) -> None:
        if self.sessions.get(s.device_id) is s:
            del self.sessions[s.device_id]
        if s.closing and s.closing[0] in (p.CLOSE_SLOW_CONSUMER, p.CLOSE_REPLACED,
                                          p.CLOSE_GOING_AWAY):
            self._count_close(s.closing[1])  # closed from outside the reader
        if s.closing is None:
            s.closing = (p.CLOSE_NORMAL, "normal")
        if s._writer is not None:
            s._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await s._writer
        try:
            self.handler.disconnected(s)
        except Exception:
            log.exception("tablet handler: disconnected() failed")

    def _spawn(self, coro: Any) -> None:
        async def guarded() -> None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(5.0):
                    await coro

        t = asyncio.get_running_loop().create_task(guarded())
        self._tasks.add(t)
        t.add_done_callback(self._tasks.discard)

    def _count_error(self, code: str) -> None:
        self.counters[f"error.{code}"] += 1
        self.observer.error(code)

    def _count_close(self, reason: str) -> None:
        self.counters[f"close.{reason}"] += 1
        self.observer.closed(reason)


async def _close_or_kill(conn: Connection, code: int, reason: str, wait_s: float = 2.0) -> None:
    """Close politely; a peer that does not read (slow, half-open) gets its connection
    dropped after ``wait_s`` so the session ends now, not at the next idle timeout."""
    try:
        async with asyncio.timeout(wait_s):
            await conn.close(code, reason)
    except Exception:
        with contextlib.suppress(Exception):
            conn.abort()


_TYPE_NAMES = {cls: name for name, cls in p.CLIENT_TYPES.items()}
