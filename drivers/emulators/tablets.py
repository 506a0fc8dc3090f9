"""Tablet emulator: a Python tablet app (``TabletClient``) and classroom bots.

``TabletClient`` follows docs/tablet-protocol.md the way a real app should: every message
gets a unique id and stays in an unacknowledged list until the agent acks it; after a
reconnect the list is resent in order (the agent dedupes, so nothing counts twice).

Bots (``run_bots``) model a class: most check in on time, some late, some never; they
answer pushed questions after a think time, raise and lower hands, go to the background
now and then, and drop off the network and reconnect.

    classroom-agent simulate tablets --url ws://127.0.0.1:8080/ws/tablet --count 40 \\
        --join-code 1234 [--roster roster.csv] [--duration 60]
    classroom-agent simulate tablets --url wss://room101.lan:8443/ws/tablet \\
        --ca-file web.crt ...                  # an agent with built-in TLS

In-process (the demo): ``await run_bots(url, count=40, join_code="1234", students=[...])``
or ``start_bots(...)`` for a background task.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import random
import ssl
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp

from drivers.tablets import protocol as p

log = logging.getLogger(__name__)


class TabletRefused(Exception):
    def __init__(self, code: str, message: str, close_code: int | None) -> None:
        self.code = code
        self.message = message
        self.close_code = close_code
        super().__init__(f"{code}: {message} (close {close_code})")


class TabletClient:
    """One tablet app connection with resend-until-acked semantics."""

    def __init__(
        self,
        url: str,
        device_id: str,
        student_id: str,
        join_code: str | None = None,
        token: str | None = None,
        http: aiohttp.ClientSession | None = None,
        app_version: str = "emulator/1",
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.url = url
        self.ssl = ssl_context  # wss://: whom to trust (None: the system's CAs)
        self.device_id = device_id
        self.student_id = student_id
        self.join_code = join_code
        self.token = token
        self.app_version = app_version
        self._http = http
        self._own_http = http is None
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.welcome: p.Welcome | None = None
        self.unacked: OrderedDict[str, p.ClientMessage] = OrderedDict()
        self._waiters: dict[str, asyncio.Future[p.Ack]] = {}
        self._reader: asyncio.Task[None] | None = None
        self.acks = 0
        self.duplicates = 0
        self.errors: list[p.Error] = []
        self.questions: list[p.QuestionMsg] = []
        self.broadcasts: list[p.BroadcastMsg] = []
        self.assignments: list[p.AssignmentMsg] = []
        self.lesson: p.LessonInfo | None = None
        self.close_code: int | None = None
        self.connects = 0
        self.on_question: Callable[[p.QuestionMsg], None] | None = None
        self.on_lesson: Callable[[p.LessonInfo | None], None] | None = None
        self.on_assignment: Callable[[p.AssignmentMsg], None] | None = None
        self.auto_ack_broadcasts = True
        self.retry_delay_s: float | None = 1.0  # None: never resend on retry errors

    @property
    def connected(self) -> bool:
        return self.ws is not None and not self.ws.closed

    @staticmethod
    def new_id() -> str:
        return uuid.uuid4().hex[:16]

    async def connect(self, timeout: float = 10.0) -> p.Welcome:
        if self._http is None:
            self._http = aiohttp.ClientSession()
        self.ws = await self._http.ws_connect(self.url, heartbeat=None, autoping=True,
                                              max_msg_size=0, ssl=self.ssl or True)
        self.close_code = None
        await self.ws.send_str(p.encode(p.Hello(
            id=self.new_id(), protocol=p.PROTOCOL_VERSION, device_id=self.device_id,
            student_id=self.student_id, app_version=self.app_version,
            join_code=self.join_code, token=self.token)))
        msg = await self.ws.receive(timeout=timeout)
        if msg.type != aiohttp.WSMsgType.TEXT:
            raise TabletRefused("closed", "no welcome", self.ws.close_code)
        reply = p.decode_server(msg.data)
        if isinstance(reply, p.Error):
            with contextlib.suppress(Exception):
                await self.ws.receive(timeout=timeout)  # the close frame
            raise TabletRefused(reply.code, reply.message, self.ws.close_code)
        assert isinstance(reply, p.Welcome), reply
        self.welcome = reply
        self.lesson = reply.lesson
        self.connects += 1
        self._reader = asyncio.create_task(self._read_loop(self.ws))
        if reply.question:
            self._got_question(reply.question)
        for m in list(self.unacked.values()):  # resend what was never acknowledged
            await self.ws.send_str(p.encode(m))
        return reply

    async def send(self, msg: p.ClientMessage) -> str:
        """Queue and (if connected) send; the message stays unacked until the ack."""
        self.unacked[msg.id] = msg
        if self.connected:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await self.ws.send_str(p.encode(msg))  # type: ignore[union-attr]
        return msg.id

    async def request(self, msg: p.ClientMessage, timeout: float = 10.0) -> p.Ack:
        fut: asyncio.Future[p.Ack] = asyncio.get_running_loop().create_future()
        self._waiters[msg.id] = fut
        await self.send(msg)
        try:
            async with asyncio.timeout(timeout):
                return await fut
        finally:
            self._waiters.pop(msg.id, None)

    async def send_raw(self, text: str | bytes) -> None:
        assert self.ws is not None
        if isinstance(text, bytes):
            await self.ws.send_bytes(text)
        else:
            await self.ws.send_str(text)

    # convenience builders
    def checkin(self, at: datetime | None = None) -> p.Checkin:
        return p.Checkin(id=self.new_id(), at=at)

    def answer(self, question_id: str, choice: str | None = None, text: str | None = None,
               time_to_answer_s: float | None = None) -> p.Answer:
        return p.Answer(id=self.new_id(), question_id=question_id, choice=choice, text=text,
                        time_to_answer_s=time_to_answer_s)

    def hand(self, state: str) -> p.Hand:
        return p.Hand(id=self.new_id(), state=state)  # type: ignore[arg-type]

    def focus(self, state: str) -> p.Focus:
        return p.Focus(id=self.new_id(), state=state)  # type: ignore[arg-type]

    def assignment(self, assignment_id: str, class_id: str, subject: str,
                   kind: str = "homework", due: datetime | None = None,
                   title: str = "") -> p.Assignment:
        """Only a teacher device (token with role teacher) may send this."""
        return p.Assignment(id=self.new_id(), assignment_id=assignment_id, class_id=class_id,
                            subject=subject, kind=kind, due=due, title=title)  # type: ignore[arg-type]

    def submission(self, assignment_id: str) -> p.Submission:
        return p.Submission(id=self.new_id(), assignment_id=assignment_id)

    def heartbeat(self) -> p.Heartbeat:
        return p.Heartbeat(id=self.new_id())

    async def drop(self) -> None:
        """Lose the network: the TCP connection goes away without a close handshake."""
        ws = self.ws
        if ws is None:
            return
        transport = ws._response.connection.transport if ws._response.connection else None
        if transport is not None:
            transport.abort()
        if self._reader:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
        self.ws = None

    async def close(self) -> None:
        if self.ws is not None and not self.ws.closed:
            with contextlib.suppress(Exception):
                await self.ws.close()
        if self._reader:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                async with asyncio.timeout(5):
                    await self._reader
        if self._own_http and self._http is not None:
            await self._http.close()
            self._http = None

    async def wait_closed(self, timeout: float = 10.0) -> int | None:
        """Wait until the agent closes the connection; returns the close code."""
        if self._reader:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                async with asyncio.timeout(timeout):
                    await asyncio.shield(self._reader)
        return self.close_code

    async def _read_loop(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        try:
            async for raw in ws:
                if raw.type != aiohttp.WSMsgType.TEXT:
                    break
                try:
                    msg = p.decode_server(raw.data)
                except Exception:
                    log.warning("tablet %s: bad server message %r", self.device_id, raw.data)
                    continue
                self._on_message(msg)
        finally:
            self.close_code = ws.close_code
            for fut in self._waiters.values():
                if not fut.done():
                    fut.set_exception(ConnectionError(f"closed {ws.close_code}"))

    def _on_message(self, msg: p.ServerMessage) -> None:
        if isinstance(msg, p.Ack):
            self.acks += 1
            self.duplicates += msg.duplicate
            self.unacked.pop(msg.ref, None)
            fut = self._waiters.get(msg.ref)
            if fut and not fut.done():
                fut.set_result(msg)
        elif isinstance(msg, p.Error):
            self.errors.append(msg)
            if msg.ref and not msg.retry:
                self.unacked.pop(msg.ref, None)  # refused for good: never resend
            elif msg.retry and self.retry_delay_s is not None:
                asyncio.get_running_loop().create_task(self._resend_later(msg.ref))
            fut = self._waiters.get(msg.ref or "")
            if fut and not fut.done():
                fut.set_exception(TabletRefused(msg.code, msg.message, None))
        elif isinstance(msg, p.QuestionMsg):
            self._got_question(msg)
        elif isinstance(msg, p.BroadcastMsg):
            self.broadcasts.append(msg)
            if msg.needs_ack and self.auto_ack_broadcasts:
                asyncio.get_running_loop().create_task(
                    self.send(p.BroadcastAck(id=self.new_id(), broadcast_id=msg.broadcast_id)))
        elif isinstance(msg, p.LessonMsg):
            self.lesson = msg.lesson
            if self.on_lesson:
                self.on_lesson(msg.lesson)
        elif isinstance(msg, p.AssignmentMsg):
            if any(a.assignment_id == msg.assignment_id for a in self.assignments):
                return  # relayed again: handed in once
            self.assignments.append(msg)
            if self.on_assignment:
                self.on_assignment(msg)

    async def _resend_later(self, ref: str | None) -> None:
        """``retry: true`` errors: resend that message (or, without a ref, everything
        unacknowledged) after a pause."""
        await asyncio.sleep(self.retry_delay_s or 0)
        todo = [self.unacked[ref]] if ref in self.unacked else (
            [] if ref else list(self.unacked.values()))
        for m in todo:
            if self.connected and m.id in self.unacked:
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await self.ws.send_str(p.encode(m))  # type: ignore[union-attr]

    def _got_question(self, q: p.QuestionMsg) -> None:
        if any(x.question_id == q.question_id for x in self.questions):
            return
        self.questions.append(q)
        if self.on_question:
            self.on_question(q)


# --------------------------------------------------------------------------- bots


@dataclass
class BotPlan:
    arrival: str  # on_time | late | never
    late_delay_s: float
    think_s: tuple[float, float] = (2.0, 15.0)
    homework_s: tuple[float, float] = (30.0, 600.0)  # assignment received -> handed in
    submit_share: float = 0.9  # of assignments a present student hands in
    hand_every_s: float = 90.0
    drop_every_s: float = 240.0
    focus_every_s: float = 180.0


@dataclass
class BotStats:
    bots: int = 0
    connected: int = 0
    checkins: int = 0
    answers: int = 0
    submissions: int = 0
    hands: int = 0
    drops: int = 0
    reconnects: int = 0
    acks: int = 0
    duplicates: int = 0
    refused: dict[str, int] = field(default_factory=dict)


class Bot:
    def __init__(self, client: TabletClient, plan: BotPlan, rng: random.Random,
                 stats: BotStats, speed: float) -> None:
        self.c = client
        self.plan = plan
        self.rng = rng
        self.stats = stats
        self.speed = max(0.01, speed)
        self._answer_tasks: set[asyncio.Task[None]] = set()
        self._lesson_seen: str | None = None

    async def sleep(self, s: float) -> None:
        await asyncio.sleep(s / self.speed)

    def _exp(self, mean: float) -> float:
        return self.rng.expovariate(1.0 / mean) if mean > 0 else float("inf")

    async def run(self, stop: asyncio.Event) -> None:
        self.c.on_question = self._on_question
        self.c.on_lesson = self._on_lesson
        self.c.on_assignment = self._on_assignment
        while not stop.is_set():
            try:
                await self.c.connect()
            except TabletRefused as e:
                self.stats.refused[e.code] = self.stats.refused.get(e.code, 0) + 1
                log.warning("bot %s refused: %s", self.c.device_id, e)
                return
            except (aiohttp.ClientError, OSError, TimeoutError):
                await self.sleep(self.rng.uniform(1, 3))
                continue
            if self.c.connects > 1:
                self.stats.reconnects += 1
            self.stats.connected += 1
            try:
                await self._session(stop)
            finally:
                self.stats.connected -= 1
            if not stop.is_set():
                await self.sleep(self.rng.uniform(1, 5))  # offline a little while
        await self.c.close()

    async def _session(self, stop: asyncio.Event) -> None:
        if self._lesson_seen is None and self.c.welcome and not self.c.welcome.checked_in:
            self._schedule_checkin()
        hb = (self.c.welcome.heartbeat_s if self.c.welcome else 15.0)
        next_hand = self._exp(self.plan.hand_every_s)
        next_drop = self._exp(self.plan.drop_every_s)
        next_focus = self._exp(self.plan.focus_every_s)
        t = 0.0
        while not stop.is_set() and self.c.connected:
            step = min(hb * self.speed, next_hand, next_drop, next_focus, 5.0) - 0.0
            step = max(step, 0.05)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(step / self.speed):
                    await stop.wait()
            t += step
            next_hand -= step
            next_drop -= step
            next_focus -= step
            if not self.c.connected or stop.is_set():
                break
            await self.c.send(self.c.heartbeat())
            if next_hand <= 0:
                next_hand = self._exp(self.plan.hand_every_s)
                await self.c.send(self.c.hand("raise"))
                self.stats.hands += 1
                self._later(self.rng.uniform(5, 20), self.c.hand("lower"))
            if next_focus <= 0:
                next_focus = self._exp(self.plan.focus_every_s)
                await self.c.send(self.c.focus("background"))
                self._later(self.rng.uniform(3, 30), self.c.focus("foreground"))
            if next_drop <= 0:
                self.stats.drops += 1
                await self.c.drop()
                return

    def _later(self, delay_s: float, msg: p.ClientMessage) -> None:
        async def go() -> None:
            await self.sleep(delay_s)
            await self.c.send(msg)

        t = asyncio.get_running_loop().create_task(go())
        self._answer_tasks.add(t)
        t.add_done_callback(self._answer_tasks.discard)

    def _schedule_checkin(self) -> None:
        lesson = self.c.lesson
        self._lesson_seen = lesson.lesson_id if lesson else ""
        if self.plan.arrival == "never":
            return
        delay = self.rng.uniform(0, 5)
        if self.plan.arrival == "late":
            delay = self.plan.late_delay_s
            if lesson is not None:
                wait = (lesson.late_after - datetime.now(UTC)).total_seconds()
                delay = max(delay, wait * self.speed + self.rng.uniform(5, 30))
        self.stats.checkins += 1
        self._later(delay, self.c.checkin())

    def _on_lesson(self, lesson: p.LessonInfo | None) -> None:
        if lesson is not None and lesson.lesson_id != self._lesson_seen:
            self._schedule_checkin()

    def _on_question(self, q: p.QuestionMsg) -> None:
        if self.plan.arrival == "never" or self.rng.random() < 0.1:
            return  # absent students don't answer; a few present ones don't either
        think = self.rng.uniform(*self.plan.think_s)
        if q.kind == "choice" and q.choices:
            msg = self.c.answer(q.question_id, choice=self.rng.choice(q.choices),
                                time_to_answer_s=round(think, 2))
        else:
            msg = self.c.answer(q.question_id, text=self.rng.choice(
                ["I think so", "no idea", "42", "photosynthesis"]),
                time_to_answer_s=round(think, 2))
        self.stats.answers += 1
        self._later(think, msg)


    def _on_assignment(self, a: p.AssignmentMsg) -> None:
        if self.plan.arrival == "never" or self.rng.random() >= self.plan.submit_share:
            return  # absent students and a few others never hand it in
        self.stats.submissions += 1
        self._later(self.rng.uniform(*self.plan.homework_s), self.c.submission(a.assignment_id))


def plan_for(i: int, count: int, rng: random.Random, late: float, absent: float,
             late_delay_s: float) -> BotPlan:
    # deterministic split: the first share never come, the next share come late
    n_absent = round(count * absent)
    n_late = round(count * late)
    arrival = "never" if i < n_absent else "late" if i < n_absent + n_late else "on_time"
    return BotPlan(arrival=arrival, late_delay_s=late_delay_s)


async def run_bots(
    url: str,
    count: int = 40,
    join_code: str | None = None,
    students: list[str] | None = None,
    tokens: dict[str, str] | None = None,
    duration_s: float = 0.0,
    seed: int = 1,
    late: float = 0.15,
    absent: float = 0.1,
    late_delay_s: float = 20.0,
    speed: float = 1.0,
    drop_every_s: float = 240.0,
    stop: asyncio.Event | None = None,
    stats: BotStats | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> BotStats:
    """Run ``count`` bots against ``url`` until ``stop`` is set or ``duration_s`` passes
    (0 = until cancelled / stopped). ``students``: roster sourcedIds (default stu-001...)."""
    rng = random.Random(seed)
    stop = stop or asyncio.Event()
    stats = stats or BotStats()
    ids = students or [f"stu-{i + 1:03d}" for i in range(count)]
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        bots = []
        order = list(range(count))
        for i in order:
            dev = f"tab-{i + 1:03d}"
            client = TabletClient(url, dev, ids[i % len(ids)], join_code=join_code,
                                  token=(tokens or {}).get(dev), http=http,
                                  ssl_context=ssl_context)
            plan = plan_for(i, count, rng, late, absent, late_delay_s)
            plan.drop_every_s = drop_every_s
            bots.append(Bot(client, plan, random.Random(rng.random()), stats, speed))
        stats.bots = count
        tasks = [asyncio.create_task(b.run(stop)) for b in bots]
        try:
            if duration_s > 0:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(duration_s):
                        await stop.wait()
                stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            stop.set()
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for b in bots:
                stats.acks += b.c.acks
                stats.duplicates += b.c.duplicates
                with contextlib.suppress(Exception):
                    await b.c.close()
    return stats


def start_bots(url: str, **kw: Any) -> tuple[asyncio.Task[BotStats], asyncio.Event]:
    """Run bots in the background of the current loop; set the event to stop them."""
    stop = asyncio.Event()
    task = asyncio.get_running_loop().create_task(run_bots(url, stop=stop, **kw))
    return task, stop


# --------------------------------------------------------------------------- CLI


def _students_from(path: str | None) -> list[str] | None:
    if not path:
        return None
    from agent.tablets.roster import Roster

    roster = Roster.load(path)
    return [s for c in roster.classes for s in roster.students(c)]


def _cmd(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    tokens = None
    if args.tokens:
        from agent.tablets.roster import load_tokens

        tokens = load_tokens(args.tokens)

    ssl_context = None
    if args.ca_file or args.insecure:
        ssl_context = ssl.create_default_context(cafile=args.ca_file)
        if args.insecure:  # a lab's self-signed certificate, name and chain unchecked
            ssl_context.check_hostname = False
            ssl_context.verify_mode = ssl.CERT_NONE

    async def main() -> BotStats:
        return await run_bots(
            args.url, count=args.count, join_code=args.join_code,
            students=_students_from(args.roster), tokens=tokens, duration_s=args.duration,
            seed=args.seed, late=args.late, absent=args.absent, late_delay_s=args.late_delay,
            speed=args.speed, drop_every_s=args.drop_every, ssl_context=ssl_context)

    try:
        stats = asyncio.run(main())
    except KeyboardInterrupt:
        return 130
    print(f"bots={stats.bots} checkins={stats.checkins} answers={stats.answers} "
          f"hands={stats.hands} drops={stats.drops} reconnects={stats.reconnects} "
          f"acks={stats.acks} duplicates={stats.duplicates} refused={stats.refused}")
    return 1 if stats.refused else 0


def add_simulator(subparsers: Any) -> None:
    sp = subparsers.add_parser("tablets", help="student tablet bots against /ws/tablet")
    sp.add_argument("--url", default="ws://127.0.0.1:8080/ws/tablet")
    sp.add_argument("--count", type=int, default=40)
    sp.add_argument("--join-code", default=None)
    sp.add_argument("--tokens", help="device tokens JSON (device ids tab-001, tab-002 ...)")
    sp.add_argument("--roster", help="roster CSV/JSON: bots use its student ids")
    sp.add_argument("--duration", type=float, default=0, help="seconds (0: until Ctrl-C)")
    sp.add_argument("--seed", type=int, default=1)
    sp.add_argument("--late", type=float, default=0.15, help="share of late students")
    sp.add_argument("--absent", type=float, default=0.1, help="share that never check in")
    sp.add_argument("--late-delay", type=float, default=20.0,
                    help="seconds late students wait before checking in (at least past the "
                         "lesson's late mark)")
    sp.add_argument("--speed", type=float, default=1.0, help="behaviour time speed-up")
    sp.add_argument("--drop-every", type=float, default=240.0,
                    help="mean seconds between network drops per bot")
    sp.add_argument("--ca-file", help="wss://: trust this CA / self-signed certificate (PEM)")
    sp.add_argument("--insecure", action="store_true",
                    help="wss://: do not verify the agent's certificate (lab use only)")
    sp.set_defaults(func=_cmd)
