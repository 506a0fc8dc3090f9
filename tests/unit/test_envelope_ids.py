"""Record ids: the same record keeps its envelope id; another record or revision does not."""

import uuid
from datetime import UTC, datetime

from agent import events as ev
from agent.uplink import topics
from agent.uplink.envelope import uuid7_for

TS = datetime(2026, 9, 7, 1, 2, 3, 456000, tzinfo=UTC)


def test_record_id_is_a_uuid7_fixed_by_its_key() -> None:
    a = uuid7_for(TS, "s/r/lesson_summary/2026-09-07-p1/0")
    u = uuid.UUID(a)
    assert u.version == 7 and u.variant == uuid.RFC_4122
    assert u.int >> 80 == int(TS.timestamp() * 1000)  # still time-ordered by the event time
    assert a == uuid7_for(TS, "s/r/lesson_summary/2026-09-07-p1/0")
    assert a != uuid7_for(TS, "s/r/lesson_summary/2026-09-07-p2/0")
    assert a != uuid7_for(TS, "s/r/lesson_summary/2026-09-07-p1/1")
    assert a != uuid7_for(TS, "s/r2/lesson_summary/2026-09-07-p1/0")


def test_routes_name_their_idempotency_key() -> None:
    lessons = topics.ROUTES[ev.LessonSummary]
    assert lessons.idempotency_key({"lesson_id": "L1"}) == "lesson_summary/L1/0"
    assert lessons.idempotency_key({"lesson_id": "L1", "revision": 2}) == "lesson_summary/L1/2"
    assert topics.ROUTES[ev.UsageDaily].idempotency_key(
        {"date": "2026-09-07", "revision": 1}) == "usage_daily/2026-09-07/1"
    assert topics.ROUTES[ev.Health].idempotency_key({}) is None
    assert "lesson_id" in lessons.describe_key()
