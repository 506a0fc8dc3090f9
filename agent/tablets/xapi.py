"""xAPI 1.0.3 rendering of attendance and interaction events, and an LRS sender.

For districts that run a Learning Record Store. Config: ``[tablets.xapi]``. Rendering:

- ``AttendanceEvent`` (final) -> one ``attended`` statement per present/late student
  (``result.extensions`` carries the status and check-in time); absent students get none.
- ``InteractionEvent`` answer -> ``answered`` (object = the question, ``result.response``,
  ``result.success`` when the teacher gave the correct choice, ``result.duration``).
- ``InteractionEvent`` hand raise -> ``asked`` (object = the lesson).
- Other interactions (check-ins, focus, broadcast acks) are not rendered: check-ins are
  covered by ``attended``.

Actors are account-based, never named: ``{"account": {"homePage": <xapi.home_page>,
"name": <roster sourcedId>}}``. Statement ids are UUIDv5 of the source (device + message
id, or lesson + student), so a retried POST cannot create a second statement.

Delivery is best effort next to MQTT (the durable path): statements wait in a bounded
memory queue (``queue_max``; the oldest waiting are dropped and counted beyond it, never
a batch on its way, so what is counted sent is what the LRS stored) and are POSTed
in batches to ``{endpoint}/statements`` with exponential backoff up to ``retry_max_s``.
A 4xx answer other than 408/429 drops the batch (counted) instead of retrying forever.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import uuid
from collections import deque
from typing import TYPE_CHECKING, Any

from agent import events as ev
from agent.config import read_secret

if TYPE_CHECKING:
    from agent.config import XapiConfig
    from agent.runtime.service import AgentContext

log = logging.getLogger(__name__)

VERBS = {
    "attended": "http://adlnet.gov/expapi/verbs/attended",
    "answered": "http://adlnet.gov/expapi/verbs/answered",
    "asked": "http://adlnet.gov/expapi/verbs/asked",
}
_NS = uuid.UUID("6f1f6a52-3d0e-4c1b-9d43-2f1a9c0b7e11")  # namespace for statement ids


def _actor(home_page: str, student_id: str) -> dict[str, Any]:
    return {"objectType": "Agent", "account": {"homePage": home_page, "name": student_id}}


def _verb(name: str) -> dict[str, Any]:
    return {"id": VERBS[name], "display": {"en-US": name}}


def _activity(iri: str, type_: str, name: str) -> dict[str, Any]:
    return {"objectType": "Activity", "id": iri,
            "definition": {"type": type_, "name": {"en-US": name}}}


def _duration(seconds: float) -> str:
    return f"PT{round(seconds, 2):g}S"


def render(event: ev.Event, home_page: str, base: str) -> list[dict[str, Any]]:
    """xAPI statements for one bus event (possibly none)."""
    base = base.rstrip("/")
    if isinstance(event, ev.AttendanceEvent):
        if not event.final:
            return []
        lesson = _activity(f"{base}/lessons/{event.lesson_id}",
                           "http://adlnet.gov/expapi/activities/meeting",
                           f"lesson {event.lesson_id}")
        out = []
        for r in event.students:
            if r.status == "absent":
                continue
            out.append({
                "id": str(uuid.uuid5(_NS, f"attended/{event.lesson_id}/{r.student_id}")),
                "actor": _actor(home_page, r.student_id),
                "verb": _verb("attended"),
                "object": lesson,
                "result": {"extensions": {f"{base}/ext/status": r.status}},
                "context": {"contextActivities": {"grouping": [
                    {"objectType": "Activity", "id": f"{base}/classes/{event.class_id}"}]}},
                "timestamp": (r.checked_in or event.started).isoformat(),
            })
        return out
    if isinstance(event, ev.InteractionEvent):
        sid = str(uuid.uuid5(_NS, f"{event.device_id}/{event.message_id}"))
        ctx: dict[str, Any] = {}
        if event.lesson_id:
            ctx["contextActivities"] = {"parent": [
                {"objectType": "Activity", "id": f"{base}/lessons/{event.lesson_id}"}]}
        common = {"id": sid, "actor": _actor(home_page, event.student_id),
                  "timestamp": event.ts.isoformat()}
        if ctx:
            common["context"] = ctx
        if event.kind == "answer" and event.question_id:
            result: dict[str, Any] = {
                "response": event.choice if event.choice is not None else (event.text or "")}
            if event.correct is not None:
                result["success"] = event.correct
            if event.time_to_answer_s is not None:
                result["duration"] = _duration(event.time_to_answer_s)
            obj = _activity(f"{base}/questions/{event.question_id}",
                            "http://adlnet.gov/expapi/activities/cmi.interaction",
                            f"question {event.question_id}")
            return [{**common, "verb": _verb("answered"), "object": obj, "result": result}]
        if event.kind == "hand" and event.state == "raise":
            target = (f"{base}/lessons/{event.lesson_id}" if event.lesson_id
                      else f"{base}/rooms/unscheduled")
            obj = _activity(target, "http://adlnet.gov/expapi/activities/meeting", "lesson")
            return [{**common, "verb": _verb("asked"), "object": obj}]
    return []


class XapiSender:
    """Subscribes to the bus and POSTs rendered statements to the LRS."""

    def __init__(self, ctx: AgentContext, cfg: XapiConfig) -> None:
        self.ctx = ctx
        self.cfg = cfg
        self.url = (cfg.endpoint or "").rstrip("/") + "/statements"
        self.queue: deque[dict[str, Any]] = deque()  # waiting, oldest first
        # the batch being POSTed: out of the queue, so an overflow meanwhile drops a waiting
        # statement and never one already on its way (that was then counted sent twice over)
        self.inflight: list[dict[str, Any]] = []
        self.sent = 0
        self.dropped = 0
        self.failures = 0
        self.last_error = ""
        self._wake = asyncio.Event()
        self._session: Any = None
        m = ctx.metrics
        self._m_sent = m.counter("classroom_xapi_statements_sent_total", "xAPI statements stored")
        self._m_drop = m.counter("classroom_xapi_statements_dropped_total",
                                 "xAPI statements dropped (queue full or refused)", ["reason"])

    def status(self) -> dict[str, Any]:
        return {"queued": len(self.queue) + len(self.inflight), "sent": self.sent,
                "dropped": self.dropped, "failures": self.failures,
                "last_error": self.last_error}

    def offer(self, event: ev.Event) -> None:
        for st in render(event, self.cfg.home_page, self.cfg.activity_base):
            if len(self.queue) >= self.cfg.queue_max:
                self.queue.popleft()
                self._drop("queue_full", 1)
            self.queue.append(st)
        self._wake.set()

    async def run(self) -> None:
        import aiohttp

        headers = {"X-Experience-API-Version": "1.0.3", "Content-Type": "application/json"}
        pw = read_secret(self.cfg.password, self.cfg.password_file)
        if self.cfg.username:
            token = base64.b64encode(f"{self.cfg.username}:{pw or ''}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        self._session = aiohttp.ClientSession(headers=headers,
                                              timeout=aiohttp.ClientTimeout(total=30))
        feeder = asyncio.create_task(self._feed())
        try:
            await self._send_loop()
        finally:
            feeder.cancel()
            await self._session.close()

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()

    async def _feed(self) -> None:
        with self.ctx.bus.subscribe(ev.AttendanceEvent, ev.InteractionEvent) as sub:
            async for event in sub:
                self.offer(event)

    async def _send_loop(self) -> None:
        delay = 1.0
        while True:
            if not self.queue:
                self._wake.clear()
                await self._wake.wait()
            n = min(self.cfg.batch_max, len(self.queue))
            self.inflight = batch = [self.queue.popleft() for _ in range(n)]
            try:
                outcome = await self._post(batch)
            finally:
                self.inflight = []
            if outcome == "retry":
                self._requeue(batch)
                self.failures += 1
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.cfg.retry_max_s)
                continue
            delay = 1.0
            if outcome == "ok":
                self.sent += len(batch)
                self._m_sent.inc(len(batch))
            else:
                self._drop(outcome, len(batch))

    async def _post(self, batch: list[dict[str, Any]]) -> str:
        try:
            async with self._session.post(self.url, json=batch) as r:
                if r.status < 300:
                    return "ok"
                if r.status == 409:  # already stored (same ids): nothing to resend
                    return "ok"
                self.last_error = f"HTTP {r.status}"
                if r.status in (408, 429) or r.status >= 500:
                    return "retry"
                log.warning("xAPI LRS refused %d statements: HTTP %d", len(batch), r.status)
                return "refused"
        except Exception as e:  # network, timeout: retry later
            self.last_error = f"{type(e).__name__}: {e}"[:200]
            return "retry"

    def _requeue(self, batch: list[dict[str, Any]]) -> None:
        """A batch to retry goes back in front; beyond ``queue_max`` the oldest go."""
        self.queue.extendleft(reversed(batch))
        over = len(self.queue) - self.cfg.queue_max
        for _ in range(max(0, over)):
            self.queue.popleft()
        if over > 0:
            self._drop("queue_full", over)

    def _drop(self, reason: str, n: int) -> None:
        self.dropped += n
        self._m_drop.labels(reason).inc(n)
