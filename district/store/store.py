"""What the collector keeps, on SQLite or PostgreSQL: one write path (``apply``, one batch in
one transaction) and the reads the KPI engine and the web API need.

Idempotent by construction: a lesson is keyed by (school, room, lesson_id) whatever its
envelope id and the highest ``revision`` wins; a daily usage record by (school, room, date)
likewise; events by envelope id. Aggregates per term (``agg_week``, ``agg_subject``) are
kept in step inside the same transaction (the old version's share is taken out when a
revision replaces it), so a term report reads a few rows per room.

Rows are locked in one global order (table by table, keys sorted) so two collectors on one
PostgreSQL never deadlock each other; a conflict that happens anyway is retried.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, date, datetime
from typing import Any, TypeVar

import msgspec

from agent import events as ev
from district.ingest.parse import DeadLetter, Record, stored_homework, stored_quality
from district.store.db import Database, open_db
from district.store.schema import MIGRATIONS

log = logging.getLogger(__name__)
T = TypeVar("T")
Agg = dict[tuple[Any, ...], list[float]]  # aggregate deltas by key (week or subject)

MAX_SEQ_JUMP = 1_000_000  # a larger jump is a reset (a new outbox), not a gap
MAX_HOLES = 200  # intervals remembered per room and topic
WEEK_COLS = ("lessons", "smart_lessons", "recorded_lessons", "minutes", "live_lessons",
             "live_known", "usage_days", "usage_lessons", "usage_smart_lessons",
             "quality_recordings", "quality_known", "homework_days")
SUBJECT_COLS = ("lessons", "smart_lessons", "recorded_lessons", "live_lessons", "live_known",
                "quality_recordings", "quality_known")
HOMEWORK_COLS = ("assignments", "submissions", "rated_assignments", "rate_weighted")
CLASS_COLS = ("lessons", "tablet_lessons")
AGGS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "agg_week": (("term", "school", "room", "week"), WEEK_COLS),
    "agg_subject": (("term", "school", "room", "subject"), SUBJECT_COLS),
    "agg_homework": (("term", "school", "class_id", "subject", "week"), HOMEWORK_COLS),
    "agg_class": (("term", "school", "class_id"), CLASS_COLS),
}
# what a lesson and a day contribute to the aggregates (``_lesson_share``/``_usage_share``)
LESSON_SHARE = ("school, room, date, week, subject, smart, recorded, minutes, live, quality, "
                "class_id, tablets")
USAGE_SHARE = "school, room, date, week, lessons, smart_lessons, data"


# per aggregate table: key columns' values -> deltas of its counting columns
Aggs = dict[str, dict[tuple[Any, ...], list[Any]]]


def _zeros(n: int) -> Callable[[], list[Any]]:
    return lambda: [0] * n


def _new_aggs() -> Aggs:
    return {t: defaultdict(_zeros(len(cols))) for t, (_, cols) in AGGS.items()}


def _hw_rows(hw: list[ev.HomeworkUsage] | None) -> list[tuple[Any, ...]] | None:
    return None if hw is None else [
        (h.class_id[:200], h.subject[:200], h.assignments, h.submissions, h.submission_rate)
        for h in hw]


def _tablets(s: ev.LessonSummary) -> int:
    """Tablet activity in the lesson: its class is a tablet class."""
    t = s.tablets
    return int(t.active > 0 or t.checkins > 0 or t.answers > 0 or t.submissions > 0)


class TermSpan(msgspec.Struct, frozen=True):
    name: str
    start: str  # YYYY-MM-DD
    end: str


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def iso_week(day: str) -> str:
    y, w, _ = date.fromisoformat(day).isocalendar()
    return f"{y}-W{w:02d}"


def _key(*parts: str) -> str:
    return "/".join(parts)


def _keep_highest_revision(batch: dict[str, Record], key: str, item: Record,
                           counts: dict[str, int], kind: str) -> None:
    """Within one batch, keep the record with the highest revision per key and count the
    others as superseded or duplicate."""
    held = batch.get(key)
    if held is None or item.revision > held.revision:
        if held is not None:
            counts[f"{kind}:superseded"] += 1
        batch[key] = item
    else:
        counts[f"{kind}:duplicate"] += 1


class Store:
    def __init__(self, db: Database, terms: Sequence[TermSpan] = ()) -> None:
        self.db = db
        self.terms = list(terms)
        self._batches = 0

    @classmethod
    def open(cls, url: str, terms: Sequence[Any] = (), schools: Sequence[Any] = ()) -> Store:
        """Open, migrate, load the roster and bring aggregates in step with the terms."""
        spans = [TermSpan(t.name, str(t.start), str(t.end)) for t in terms]
        store = cls(open_db(url), spans)
        store.migrate()
        store.sync_roster([(s.id, r) for s in schools for r in s.rooms])
        store.sync_terms()
        return store

    def close(self) -> None:
        self.db.close()

    # ----------------------------------------------------------------- schema

    def migrate(self) -> int:
        """Apply missing migrations; returns the schema version."""
        with self.db.transaction() as c:
            self.db.migration_lock(c)
            c.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY"
                      " KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)")
            done = {r[0] for r in c.execute("SELECT version FROM schema_migrations").fetchall()}
            for version, name, statements in MIGRATIONS:
                if version in done:
                    continue
                for sql in statements:
                    c.execute(self.db.ddl(sql))
                if version == 2:
                    self._backfill_v2(c)
                c.execute("INSERT INTO schema_migrations VALUES (?, ?, ?)",
                          (version, name, now_iso()))
                log.info("storage: applied migration %d (%s)", version, name)
        return MIGRATIONS[-1][0]

    def _backfill_v2(self, c: Any) -> None:
        """Quality marks and tablet activity of lessons stored before migration 2, from
        their stored data (the aggregates are rebuilt afterwards by ``sync_terms``)."""
        dec = msgspec.json.Decoder(ev.LessonSummary)
        rows = []
        for k, data in c.execute("SELECT k, data FROM lessons").fetchall():
            try:
                tablets = _tablets(dec.decode(data))
            except msgspec.DecodeError:
                tablets = 0
            rows.append((stored_quality(data), tablets, k))
        if rows:
            c.executemany("UPDATE lessons SET quality = ?, tablets = ? WHERE k = ?", rows)

    def schema_version(self) -> int:
        return int(self._read(lambda c: c.execute("SELECT max(version) FROM schema_migrations")
                              .fetchone()[0]))

    def sync_roster(self, rooms: Iterable[tuple[str, str]]) -> None:
        rows = sorted(set(rooms))
        if not rows:
            return
        with self.db.transaction() as c:
            for school, room in rows:
                c.execute("INSERT INTO rooms (school, room, in_roster) VALUES (?, ?, 1) "
                          "ON CONFLICT (school, room) DO UPDATE SET in_roster = 1",
                          (school, room))

    def sync_terms(self) -> bool:
        """Rebuild the aggregates when the configured terms changed; True if rebuilt."""
        fp = hashlib.sha256(msgspec.json.encode(self.terms)).hexdigest()
        with self.db.transaction() as c:
            self.db.migration_lock(c)
            row = c.execute("SELECT value FROM meta WHERE key = 'terms'").fetchone()
            if row and row[0] == fp:
                return False
            for table in AGGS:
                c.execute(f"DELETE FROM {table}")
            aggs = _new_aggs()
            for r in c.execute(f"SELECT {LESSON_SHARE} FROM lessons").fetchall():
                self._lesson_share(r, +1, aggs)
            for r in c.execute(f"SELECT {USAGE_SHARE} FROM usage_daily").fetchall():
                self._usage_share((*r[:6], _hw_rows(stored_homework(r[6]))), +1, aggs)
            self._apply_aggs(c, aggs)
            c.execute("INSERT INTO meta (key, value) VALUES ('terms', ?) ON CONFLICT (key) "
                      "DO UPDATE SET value = excluded.value", (fp,))
        log.info("storage: aggregates rebuilt for %d term(s)", len(self.terms))
        return True

    # ----------------------------------------------------------------- write path

    def apply(self, items: Sequence[Record | DeadLetter], dead_letter_max: int = 100_000,
              attempts: int = 5) -> dict[str, int]:
        """Store one batch in one transaction; returns the counter increments it made."""
        received_at = now_iso()
        for attempt in range(attempts):
            try:
                with self.db.transaction() as c:
                    counts = self._apply(c, items, received_at)
                    self._batches += 1
                    if self._batches % 100 == 0:
                        self._trim_dead_letters(c, dead_letter_max)
                return counts
            except Exception as e:
                if attempt + 1 < attempts and self.db.retryable(e):
                    log.warning("storage: batch failed, retrying: %s", e)
                    time.sleep(0.05 * (attempt + 1))
                    continue
                raise
        raise AssertionError("unreachable")

    def _apply(self, c: Any, items: Sequence[Record | DeadLetter], now: str) -> dict[str, int]:
        counts: dict[str, int] = defaultdict(int)
        aggs = _new_aggs()
        lessons: dict[str, Record] = {}
        usage: dict[str, Record] = {}
        events: list[Record] = []
        status: dict[tuple[str, str], Record] = {}
        health: dict[tuple[str, str], tuple[Record, int]] = {}
        seqs: dict[str, list[int]] = defaultdict(list)
        seen: dict[tuple[str, str], str] = {}
        dead: list[DeadLetter] = []
        for item in items:
            if isinstance(item, DeadLetter):
                dead.append(item)
                counts[f"dead_letters:{item.reason}"] += 1
                continue
            counts[f"received:{item.type}"] += 1
            seen[(item.school, item.room)] = now
            seqs[_key(item.school, item.room, item.sub)].append(item.seq)
            match item.event:
                case ev.LessonSummary():
                    _keep_highest_revision(
                        lessons, _key(item.school, item.room, item.event.lesson_id), item,
                        counts, "lessons")
                case ev.UsageDaily():
                    _keep_highest_revision(
                        usage, _key(item.school, item.room, item.event.date), item, counts,
                        "usage")
                case ev.AgentStatus():
                    key = (item.school, item.room)
                    if key not in status or item.ts >= status[key].ts:
                        status[key] = item
                case ev.Health():
                    key = (item.school, item.room)
                    prev = health.get(key)
                    n = prev[1] + 1 if prev else 1
                    health[key] = (item if not prev or item.ts >= prev[0].ts else prev[0], n)
                case _:
                    events.append(item)

        self._write_lessons(c, lessons, now, counts, aggs)
        self._write_usage(c, usage, now, counts, aggs)
        events.sort(key=lambda r: r.id)
        stored = self.db.insert_new(
            c, "INSERT INTO events (envelope_id, school, room, type, ts, lesson_id, action, "
            "received_at, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (envelope_id) DO NOTHING",
            [(item.id, item.school, item.room, item.type, item.ts,
              getattr(item.event, "lesson_id", None), getattr(item.event, "action", None),
              now, item.raw.decode("utf-8", "replace")) for item in events])
        for ok in stored:
            counts["events:stored" if ok else "events:duplicate"] += 1
        self._write_seqs(c, seqs, counts)
        self._apply_aggs(c, aggs)
        if seen:
            c.executemany(
                "INSERT INTO rooms (school, room, first_seen, last_seen) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (school, room) DO UPDATE SET last_seen = excluded.last_seen, "
                "first_seen = COALESCE(rooms.first_seen, excluded.first_seen)",
                [(school, room, now, now) for school, room in sorted(seen)])
        if status:
            c.executemany(
                "UPDATE rooms SET state = ?, version = ?, capabilities = ?, status_ts = ? "
                "WHERE school = ? AND room = ? AND (status_ts IS NULL OR status_ts <= ?)",
                [(item.event.state, item.event.version[:100],
                  json.dumps(item.event.capabilities[:100]), item.ts, school, room, item.ts)
                 for (school, room), item in sorted(status.items())])
        if health:
            c.executemany(
                "INSERT INTO health (school, room, ts, samples, data) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (school, room) DO UPDATE SET samples = health.samples + "
                "excluded.samples, ts = CASE WHEN excluded.ts >= health.ts THEN excluded.ts "
                "ELSE health.ts END, data = CASE WHEN excluded.ts >= health.ts THEN "
                "excluded.data ELSE health.data END",
                [(school, room, item.ts, n, item.raw.decode("utf-8", "replace"))
                 for (school, room), (item, n) in sorted(health.items())])
        for d in dead:
            c.execute("INSERT INTO dead_letters (received_at, topic, reason, detail, payload) "
                      "VALUES (?, ?, ?, ?, ?)",
                      (now, d.topic[:500], d.reason, d.detail, d.payload[:65536]))
        self._bump(c, counts)
        return dict(counts)

    def _write_lessons(self, c: Any, lessons: dict[str, Record], now: str,
                       counts: dict[str, int], aggs: Aggs) -> None:
        if not lessons:
            return
        existing = self._existing(c, "lessons", LESSON_SHARE + ", revision", sorted(lessons))
        # the share columns after (school, room): date .. tablets
        rows: dict[str, tuple[Any, ...]] = {}
        for k, rec in lessons.items():
            s: ev.LessonSummary = rec.event
            rows[k] = (s.date, iso_week(s.date), s.subject, int(s.smart_classroom_use),
                       int(s.recording.minutes > 0 or bool(s.recording.recordings)),
                       float(s.minutes), None if rec.live is None else int(rec.live),
                       rec.quality, s.class_id[:200], _tablets(s))
        new = [k for k in sorted(lessons) if k not in existing]
        inserted = self.db.insert_new(
            c, "INSERT INTO lessons (k, school, room, lesson_id, envelope_id, seq, "
            "revision, date, week, subject, smart, recorded, minutes, live, quality, "
            "class_id, tablets, teacher, kind, start_ts, end_ts, received_at, data) VALUES "
            "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (k) DO NOTHING",
            [(k, lessons[k].school, lessons[k].room, lessons[k].event.lesson_id, lessons[k].id,
              lessons[k].seq, lessons[k].revision, *rows[k], lessons[k].event.teacher[:200],
              lessons[k].event.kind, lessons[k].event.start.isoformat(),
              lessons[k].event.end.isoformat(), now,
              lessons[k].raw.decode("utf-8", "replace")) for k in new])
        raced = []
        for k, ok in zip(new, inserted, strict=True):
            if ok:
                counts["lessons:stored"] += 1
                self._lesson_share((lessons[k].school, lessons[k].room, *rows[k]), +1, aggs)
            else:  # another collector inserted it meanwhile: compare with theirs
                raced.append(k)
        if raced:
            existing.update(self._existing(c, "lessons", LESSON_SHARE + ", revision", raced))
        fresh = set(new) - set(raced)  # inserted by us just now
        for k in sorted(k for k in lessons if k not in fresh):
            rec, old, row = lessons[k], existing[k], rows[k]
            s = rec.event
            if rec.revision <= old[12]:
                counts["lessons:duplicate"] += 1
                continue
            # the old version's share out, the new one's in (a showcase undone: back down)
            self._lesson_share(old[:12], -1, aggs)
            c.execute(
                "UPDATE lessons SET envelope_id = ?, seq = ?, revision = ?, date = ?, week = ?, "
                "subject = ?, smart = ?, recorded = ?, minutes = ?, live = ?, quality = ?, "
                "class_id = ?, tablets = ?, teacher = ?, kind = ?, start_ts = ?, end_ts = ?, "
                "received_at = ?, data = ?, versions = versions + 1 WHERE k = ?",
                (rec.id, rec.seq, rec.revision, *row, s.teacher[:200], s.kind,
                 s.start.isoformat(), s.end.isoformat(), now,
                 rec.raw.decode("utf-8", "replace"), k))
            counts["lessons:revised"] += 1
            self._lesson_share((rec.school, rec.room, *row), +1, aggs)

    def _write_usage(self, c: Any, usage: dict[str, Record], now: str,
                     counts: dict[str, int], aggs: Aggs) -> None:
        if not usage:
            return
        existing = self._existing(c, "usage_daily", USAGE_SHARE + ", revision", sorted(usage))
        shares = {k: (r.school, r.room, r.event.date, iso_week(r.event.date), r.event.lessons,
                      r.event.smart_lessons, _hw_rows(r.homework)) for k, r in usage.items()}
        new = [k for k in sorted(usage) if k not in existing]
        inserted = self.db.insert_new(
            c, "INSERT INTO usage_daily (k, school, room, date, week, revision, "
            "envelope_id, lessons, smart_lessons, recordings, recorded_lessons, "
            "received_at, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (k) DO NOTHING",
            [(k, usage[k].school, usage[k].room, usage[k].event.date, shares[k][3],
              usage[k].revision, usage[k].id, usage[k].event.lessons,
              usage[k].event.smart_lessons, usage[k].event.recordings,
              usage[k].event.recorded_lessons, now, usage[k].raw.decode("utf-8", "replace"))
             for k in new])
        raced = []
        for k, ok in zip(new, inserted, strict=True):
            if ok:
                counts["usage:stored"] += 1
                self._usage_share(shares[k], +1, aggs)
            else:
                raced.append(k)
        if raced:
            existing.update(self._existing(c, "usage_daily", USAGE_SHARE + ", revision", raced))
        fresh = set(new) - set(raced)
        for k in sorted(k for k in usage if k not in fresh):
            rec, old = usage[k], existing[k]
            u: ev.UsageDaily = rec.event
            if rec.revision <= old[7]:
                counts["usage:duplicate"] += 1
                continue
            # the replaced day's homework is read back from what was stored for it
            self._usage_share((*old[:6], _hw_rows(stored_homework(old[6]))), -1, aggs)
            c.execute(
                "UPDATE usage_daily SET revision = ?, envelope_id = ?, lessons = ?, "
                "smart_lessons = ?, recordings = ?, recorded_lessons = ?, received_at = ?, "
                "data = ? WHERE k = ?",
                (rec.revision, rec.id, u.lessons, u.smart_lessons, u.recordings,
                 u.recorded_lessons, now, rec.raw.decode("utf-8", "replace"), k))
            counts["usage:revised"] += 1
            self._usage_share(shares[k], +1, aggs)

    def _existing(self, c: Any, table: str, cols: str,
                  keys: list[str]) -> dict[str, tuple[Any, ...]]:
        out: dict[str, tuple[Any, ...]] = {}
        for i in range(0, len(keys), 500):
            chunk = keys[i:i + 500]
            marks = ", ".join("?" * len(chunk))
            for r in c.execute(f"SELECT k, {cols} FROM {table} WHERE k IN ({marks}) "
                               f"ORDER BY k{self.db.for_update}", chunk).fetchall():
                out[r[0]] = tuple(r[1:])
        return out

    def _terms_of(self, day: str) -> list[str]:
        return [t.name for t in self.terms if t.start <= day <= t.end]

    def _lesson_share(self, r: Sequence[Any], sign: int, aggs: Aggs) -> None:
        (school, room, day, wk, subject, smart, recorded, minutes, live, quality, class_id,
         tablets) = r
        live_known, q_known = int(live is not None), int(quality is not None)
        for term in self._terms_of(day):
            w = aggs["agg_week"][(term, school, room, wk)]
            for i, v in enumerate((1, smart, recorded, minutes, live or 0, live_known)):
                w[i] += sign * v
            w[9] += sign * (quality or 0)
            w[10] += sign * q_known
            s = aggs["agg_subject"][(term, school, room, subject)]
            for i, v in enumerate((1, smart, recorded, live or 0, live_known, quality or 0,
                                   q_known)):
                s[i] += sign * v
            k = aggs["agg_class"][(term, school, class_id)]
            k[0] += sign
            k[1] += sign * tablets

    def _usage_share(self, r: Sequence[Any], sign: int, aggs: Aggs) -> None:
        school, room, day, wk, lessons, smart, homework = r
        for term in self._terms_of(day):
            w = aggs["agg_week"][(term, school, room, wk)]
            w[6] += sign
            w[7] += sign * lessons
            w[8] += sign * smart
            if homework is None:
                continue
            w[11] += sign
            for class_id, subject, assigned, submitted, rate in homework:
                h = aggs["agg_homework"][(term, school, class_id, subject, wk)]
                h[0] += sign * assigned
                h[1] += sign * submitted
                if rate is not None:  # weights the rate by its assignments (a term rate)
                    h[2] += sign * assigned
                    h[3] += sign * rate * assigned

    def _apply_aggs(self, c: Any, aggs: Aggs) -> None:
        for table, (keys, cols) in AGGS.items():
            rows = [(*k, *v) for k, v in sorted(aggs[table].items()) if any(v)]
            if not rows:
                continue
            sets = ", ".join(f"{x} = {table}.{x} + excluded.{x}" for x in cols)
            sql = (f"INSERT INTO {table} ({', '.join(keys + cols)}) VALUES "
                   f"({', '.join('?' * (len(keys) + len(cols)))}) "
                   f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {sets}")
            c.executemany(sql, rows)

    def _write_seqs(self, c: Any, seqs: dict[str, list[int]], counts: dict[str, int]) -> None:
        if not seqs:
            return
        cols = "max_seq, holes, missing, gaps, received, duplicates, resets"
        existing = self._existing(c, "seq_state", cols, sorted(seqs))
        rows = []
        for k in sorted(seqs):
            old = existing.get(k)
            st = SeqState(old[0], json.loads(old[1]), *old[2:]) if old else SeqState()
            for s in seqs[k]:
                st.add(s)
            counts["seq:gaps"] += st.gaps - (old[3] if old else 0)
            school, room, topic = k.split("/", 2)
            rows.append((k, school, room, topic, st.max_seq, json.dumps(st.holes), st.missing,
                         st.gaps, st.received, st.duplicates, st.resets))
        c.executemany(
            f"INSERT INTO seq_state (k, school, room, topic, {cols}) VALUES "
            "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (k) DO UPDATE SET "
            "max_seq = excluded.max_seq, holes = excluded.holes, missing = excluded.missing, "
            "gaps = excluded.gaps, received = excluded.received, "
            "duplicates = excluded.duplicates, resets = excluded.resets", rows)

    def _bump(self, c: Any, counts: dict[str, int]) -> None:
        rows = sorted((k, v) for k, v in counts.items() if v)
        if rows:
            c.executemany("INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT (name) "
                          "DO UPDATE SET value = counters.value + excluded.value", rows)

    def _trim_dead_letters(self, c: Any, keep: int) -> None:
        row = c.execute("SELECT max(id) FROM dead_letters").fetchone()
        if row and row[0] and row[0] > keep:
            c.execute("DELETE FROM dead_letters WHERE id <= ?", (row[0] - keep,))

    def bump(self, counts: dict[str, int]) -> None:
        with self.db.transaction() as c:
            self._bump(c, counts)

    # ----------------------------------------------------------------- reads

    def _read(self, fn: Callable[[Any], T]) -> T:
        """Run a read; once more on a fresh connection if the server dropped ours."""
        try:
            with self.db.reading() as c:
                return fn(c)
        except Exception as e:
            if not self.db.retryable(e):
                raise
        with self.db.reading() as c:
            return fn(c)

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        def run(c: Any) -> list[dict[str, Any]]:
            cur = c.execute(sql, params)
            names = [d[0] for d in cur.description]
            return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]

        return self._read(run)

    @staticmethod
    def _where(school: str | None, room: str | None, first: str = "WHERE") -> tuple[str, list[Any]]:
        parts, params = [], []
        if school is not None:
            parts.append("school = ?")
            params.append(school)
        if room is not None:
            parts.append("room = ?")
            params.append(room)
        return (f" {first} " + " AND ".join(parts) if parts else ""), params

    def rooms(self, school: str | None = None, room: str | None = None) -> list[dict[str, Any]]:
        where, params = self._where(school, room)
        rows = self._rows("SELECT school, room, in_roster, first_seen, last_seen, state, "
                          f"version, capabilities, status_ts FROM rooms{where} "
                          "ORDER BY school, room", params)
        for r in rows:
            r["capabilities"] = json.loads(r["capabilities"]) if r["capabilities"] else []
            r["in_roster"] = bool(r["in_roster"])
        return rows

    def term_weeks(self, term: str, school: str | None = None,
                   room: str | None = None) -> list[dict[str, Any]]:
        where, params = self._where(school, room, "AND")
        return self._rows(f"SELECT school, room, week, {', '.join(WEEK_COLS)} FROM agg_week "
                          f"WHERE term = ?{where} ORDER BY school, room, week", [term, *params])

    def term_room_totals(self, term: str, weeks: Sequence[str], school: str | None = None,
                         room: str | None = None) -> list[dict[str, Any]]:
        """Per room: the term's sums, and how many of ``weeks`` had a recorded lesson."""
        where, params = self._where(school, room, "AND")
        sums = ", ".join(f"SUM({c}) AS {c}" for c in WEEK_COLS)
        marks = ", ".join("?" * len(weeks)) or "''"
        return self._rows(
            f"SELECT school, room, {sums}, SUM(CASE WHEN recorded_lessons > 0 AND week IN "
            f"({marks}) THEN 1 ELSE 0 END) AS recorded_weeks FROM agg_week WHERE term = ?"
            f"{where} GROUP BY school, room", [*weeks, term, *params])

    def term_week_totals(self, term: str, school: str | None = None,
                         room: str | None = None) -> list[dict[str, Any]]:
        where, params = self._where(school, room, "AND")
        return self._rows(
            "SELECT week, SUM(CASE WHEN lessons > 0 THEN 1 ELSE 0 END) AS rooms_with_lessons, "
            "SUM(lessons) AS lessons, SUM(smart_lessons) AS smart_lessons, "
            "SUM(recorded_lessons) AS recorded_lessons, "
            "SUM(CASE WHEN recorded_lessons > 0 THEN 1 ELSE 0 END) AS rooms_recorded, "
            f"SUM(usage_lessons) AS usage_lessons FROM agg_week WHERE term = ?{where} "
            "GROUP BY week ORDER BY week", [term, *params])

    def term_smart_subjects(self, term: str, school: str | None = None,
                            room: str | None = None) -> list[dict[str, Any]]:
        where, params = self._where(school, room, "AND")
        return self._rows("SELECT school, room, subject FROM agg_subject WHERE term = ? AND "
                          f"smart_lessons > 0 AND subject <> ''{where}", [term, *params])

    def term_subjects(self, term: str, school: str | None = None,
                      room: str | None = None) -> list[dict[str, Any]]:
        where, params = self._where(school, room, "AND")
        return self._rows(f"SELECT school, room, subject, {', '.join(SUBJECT_COLS)} "
                          f"FROM agg_subject WHERE term = ?{where} ORDER BY school, room, subject",
                          [term, *params])

    def term_quality_by_subject(self, term: str, school: str | None = None,
                                room: str | None = None) -> list[dict[str, Any]]:
        """Per school and subject: quality recordings, and lessons whose summary said."""
        where, params = self._where(school, room, "AND")
        return self._rows("SELECT school, subject, SUM(quality_recordings) AS quality, "
                          "SUM(quality_known) AS known FROM agg_subject WHERE term = ? AND "
                          f"quality_known > 0{where} GROUP BY school, subject "
                          "ORDER BY school, subject", [term, *params])

    def term_homework(self, term: str, weeks: Sequence[str], week_targets: tuple[int, int],
                      school: str | None = None) -> list[dict[str, Any]]:
        """Per school, class and subject: the term's homework sums, and how many of the
        school ``weeks`` reached each weekly target (tablet class, class without tablets).
        Whether a class had tablet lessons: ``term_classes``."""
        where, params = self._where(school, None, "AND")
        marks = ", ".join("?" * len(weeks)) or "''"
        t_tab, t_no = week_targets
        return self._rows(
            "SELECT school, class_id, subject, SUM(assignments) AS assignments, "
            "SUM(submissions) AS submissions, SUM(rated_assignments) AS rated, "
            "SUM(rate_weighted) AS rate_weighted, "
            "SUM(CASE WHEN school_week = 1 AND assignments >= ? THEN 1 ELSE 0 END) "
            "AS weeks_tablet, "
            "SUM(CASE WHEN school_week = 1 AND assignments >= ? THEN 1 ELSE 0 END) "
            "AS weeks_no_tablets FROM (SELECT school, class_id, subject, assignments, "
            "submissions, rated_assignments, rate_weighted, "
            f"CASE WHEN week IN ({marks}) THEN 1 ELSE 0 END AS school_week FROM agg_homework "
            f"WHERE term = ?{where}) h GROUP BY school, class_id, subject "
            "ORDER BY school, class_id, subject",
            [t_tab, t_no, *weeks, term, *params])

    def term_homework_weeks(self, term: str, school: str) -> list[dict[str, Any]]:
        """One school's homework per class, subject and ISO week (for charts)."""
        return self._rows("SELECT class_id, subject, week, assignments, submissions FROM "
                          "agg_homework WHERE term = ? AND school = ? ORDER BY class_id, "
                          "subject, week", [term, school])

    def term_classes(self, term: str, school: str | None = None) -> list[dict[str, Any]]:
        where, params = self._where(school, None, "AND")
        return self._rows(f"SELECT school, class_id, {', '.join(CLASS_COLS)} FROM agg_class "
                          f"WHERE term = ?{where} ORDER BY school, class_id", [term, *params])

    def seq_state(self, school: str | None = None,
                  room: str | None = None) -> list[dict[str, Any]]:
        where, params = self._where(school, room)
        return self._rows("SELECT school, room, topic, max_seq, missing, gaps, received, "
                          f"duplicates, resets FROM seq_state{where} ORDER BY school, room, topic",
                          params)

    def counters(self) -> dict[str, int]:
        return {r["name"]: int(r["value"])
                for r in self._rows("SELECT name, value FROM counters ORDER BY name")}

    def dead_letters(self, limit: int = 100) -> list[dict[str, Any]]:
        rows = self._rows("SELECT id, received_at, topic, reason, detail, payload FROM "
                          "dead_letters ORDER BY id DESC LIMIT ?", [limit])
        for r in rows:
            r["payload"] = bytes(r["payload"])[:2000].decode("utf-8", "replace")
        return rows

    def health(self, school: str | None = None, room: str | None = None) -> list[dict[str, Any]]:
        where, params = self._where(school, room)
        rows = self._rows(f"SELECT school, room, ts, samples, data FROM health{where} "
                          "ORDER BY school, room", params)
        for r in rows:
            r["data"] = json.loads(r["data"])
        return rows

    def lessons(self, school: str, room: str, since: str = "",
                until: str = "9999") -> list[dict[str, Any]]:
        rows = self._rows("SELECT lesson_id, date, subject, class_id, teacher, kind, smart, "
                          "recorded, minutes, live, revision, versions, envelope_id FROM lessons "
                          "WHERE school = ? AND room = ? AND date >= ? AND date <= ? "
                          "ORDER BY date, start_ts", [school, room, since, until])
        return rows

    def count(self, table: str) -> int:
        assert table in ("lessons", "usage_daily", "events", "dead_letters", "rooms", "health")
        return self._read(lambda c: int(c.execute(f"SELECT count(*) FROM {table}")
                                        .fetchone()[0]))


class SeqState:
    """Highest seq seen and the holes below it, for one room and topic."""

    def __init__(self, max_seq: int = 0, holes: list[list[int]] | None = None,
                 missing: int = 0, gaps: int = 0, received: int = 0, duplicates: int = 0,
                 resets: int = 0) -> None:
        self.max_seq = max_seq
        self.holes = holes or []
        self.missing = missing
        self.gaps = gaps
        self.received = received
        self.duplicates = duplicates
        self.resets = resets

    def add(self, s: int) -> None:
        if self.received == 0 and self.max_seq == 0:
            self.max_seq = s  # the first one seen is the baseline: what came before is unknown
            self.received = 1
            return
        if s > self.max_seq:
            if s - self.max_seq > MAX_SEQ_JUMP:
                self.resets += 1  # a new outbox or a hostile seq: start over, no hole
            elif s > self.max_seq + 1:
                self.holes.append([self.max_seq + 1, s - 1])
                self.missing += s - self.max_seq - 1
                self.gaps += 1
                if len(self.holes) > MAX_HOLES:
                    self.holes.pop(0)  # stays counted as missing; can no longer be filled
            self.max_seq = s
            self.received += 1
            return
        for i, (a, b) in enumerate(self.holes):
            if a <= s <= b:  # a late one fills its hole
                repl = ([[a, s - 1]] if s > a else []) + ([[s + 1, b]] if s < b else [])
                self.holes[i:i + 1] = repl
                self.missing -= 1
                self.received += 1
                return
        self.duplicates += 1
