"""Versioned migrations, the same for SQLite and PostgreSQL (``{id}``/``{blob}``/``{float}``
are per-engine types). Append new migrations; never edit an applied one.

Keys: ``k`` columns are ``school/room/...`` strings (school and room never contain ``/``),
so a batch can look up many rows with one ``IN``.
"""

from __future__ import annotations

MIGRATIONS: list[tuple[int, str, list[str]]] = [
    (1, "initial schema", [
        """CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)""",
        # presence: from the retained status, and the last time anything arrived
        """CREATE TABLE rooms (
            school TEXT NOT NULL, room TEXT NOT NULL,
            in_roster INTEGER NOT NULL DEFAULT 0,
            first_seen TEXT, last_seen TEXT,
            state TEXT, version TEXT, capabilities TEXT, status_ts TEXT,
            PRIMARY KEY (school, room))""",
        """CREATE TABLE lessons (
            k TEXT PRIMARY KEY,
            school TEXT NOT NULL, room TEXT NOT NULL, lesson_id TEXT NOT NULL,
            envelope_id TEXT NOT NULL, seq BIGINT NOT NULL, revision BIGINT NOT NULL,
            date TEXT NOT NULL, week TEXT NOT NULL, subject TEXT NOT NULL,
            class_id TEXT NOT NULL, teacher TEXT NOT NULL, kind TEXT NOT NULL,
            smart INTEGER NOT NULL, recorded INTEGER NOT NULL, minutes {float} NOT NULL,
            live INTEGER, start_ts TEXT NOT NULL, end_ts TEXT NOT NULL,
            received_at TEXT NOT NULL, versions INTEGER NOT NULL DEFAULT 1,
            data TEXT NOT NULL)""",
        """CREATE INDEX lessons_room_date ON lessons (school, room, date)""",
        """CREATE TABLE usage_daily (
            k TEXT PRIMARY KEY,
            school TEXT NOT NULL, room TEXT NOT NULL, date TEXT NOT NULL, week TEXT NOT NULL,
            revision BIGINT NOT NULL, envelope_id TEXT NOT NULL,
            lessons BIGINT NOT NULL, smart_lessons BIGINT NOT NULL,
            recordings BIGINT NOT NULL, recorded_lessons BIGINT NOT NULL,
            received_at TEXT NOT NULL, data TEXT NOT NULL)""",
        """CREATE TABLE events (
            envelope_id TEXT PRIMARY KEY,
            school TEXT NOT NULL, room TEXT NOT NULL, type TEXT NOT NULL, ts TEXT NOT NULL,
            lesson_id TEXT, action TEXT, received_at TEXT NOT NULL, data TEXT NOT NULL)""",
        """CREATE INDEX events_room ON events (school, room, type, ts)""",
        # latest health per room (and how many samples), never every sample
        """CREATE TABLE health (
            school TEXT NOT NULL, room TEXT NOT NULL, ts TEXT NOT NULL,
            samples BIGINT NOT NULL, data TEXT NOT NULL, PRIMARY KEY (school, room))""",
        # per room and topic: highest seq and the holes below it ([[a, b], ...])
        """CREATE TABLE seq_state (
            k TEXT PRIMARY KEY, school TEXT NOT NULL, room TEXT NOT NULL,
            topic TEXT NOT NULL, max_seq BIGINT NOT NULL, holes TEXT NOT NULL,
            missing BIGINT NOT NULL, gaps BIGINT NOT NULL, received BIGINT NOT NULL,
            duplicates BIGINT NOT NULL, resets BIGINT NOT NULL)""",
        """CREATE TABLE dead_letters (
            id {id}, received_at TEXT NOT NULL, topic TEXT NOT NULL, reason TEXT NOT NULL,
            detail TEXT NOT NULL, payload {blob} NOT NULL)""",
        """CREATE TABLE counters (name TEXT PRIMARY KEY, value BIGINT NOT NULL)""",
        # aggregates maintained on ingest, per configured term: a report reads these only
        """CREATE TABLE agg_week (
            term TEXT NOT NULL, school TEXT NOT NULL, room TEXT NOT NULL, week TEXT NOT NULL,
            lessons BIGINT NOT NULL DEFAULT 0, smart_lessons BIGINT NOT NULL DEFAULT 0,
            recorded_lessons BIGINT NOT NULL DEFAULT 0, minutes {float} NOT NULL DEFAULT 0,
            live_lessons BIGINT NOT NULL DEFAULT 0, live_known BIGINT NOT NULL DEFAULT 0,
            usage_days BIGINT NOT NULL DEFAULT 0, usage_lessons BIGINT NOT NULL DEFAULT 0,
            usage_smart_lessons BIGINT NOT NULL DEFAULT 0,
            PRIMARY KEY (term, school, room, week))""",
        """CREATE TABLE agg_subject (
            term TEXT NOT NULL, school TEXT NOT NULL, room TEXT NOT NULL, subject TEXT NOT NULL,
            lessons BIGINT NOT NULL DEFAULT 0, smart_lessons BIGINT NOT NULL DEFAULT 0,
            recorded_lessons BIGINT NOT NULL DEFAULT 0,
            live_lessons BIGINT NOT NULL DEFAULT 0, live_known BIGINT NOT NULL DEFAULT 0,
            PRIMARY KEY (term, school, room, subject))""",
    ]),
    (2, "quality recordings and tablet homework", [
        # NULL: the summary carries no quality marks (an agent older than showcase marking)
        """ALTER TABLE lessons ADD COLUMN quality BIGINT""",
        # the lesson had tablet activity: its class is a tablet class
        """ALTER TABLE lessons ADD COLUMN tablets INTEGER NOT NULL DEFAULT 0""",
        """ALTER TABLE agg_week ADD COLUMN quality_recordings BIGINT NOT NULL DEFAULT 0""",
        """ALTER TABLE agg_week ADD COLUMN quality_known BIGINT NOT NULL DEFAULT 0""",
        # daily usage messages that carry homework (0: the room's agent does not send it)
        """ALTER TABLE agg_week ADD COLUMN homework_days BIGINT NOT NULL DEFAULT 0""",
        """ALTER TABLE agg_subject ADD COLUMN quality_recordings BIGINT NOT NULL DEFAULT 0""",
        """ALTER TABLE agg_subject ADD COLUMN quality_known BIGINT NOT NULL DEFAULT 0""",
        # homework per school, class, subject and ISO week, summed over the school's rooms
        """CREATE TABLE agg_homework (
            term TEXT NOT NULL, school TEXT NOT NULL, class_id TEXT NOT NULL,
            subject TEXT NOT NULL, week TEXT NOT NULL,
            assignments BIGINT NOT NULL DEFAULT 0, submissions BIGINT NOT NULL DEFAULT 0,
            rated_assignments BIGINT NOT NULL DEFAULT 0,
            rate_weighted {float} NOT NULL DEFAULT 0,
            PRIMARY KEY (term, school, class_id, subject, week))""",
        # lessons per class (tablet_lessons > 0: a tablet class)
        """CREATE TABLE agg_class (
            term TEXT NOT NULL, school TEXT NOT NULL, class_id TEXT NOT NULL,
            lessons BIGINT NOT NULL DEFAULT 0, tablet_lessons BIGINT NOT NULL DEFAULT 0,
            PRIMARY KEY (term, school, class_id))""",
        # the new columns are filled from the stored data (Store.migrate), then the
        # aggregates are rebuilt
        """DELETE FROM meta WHERE key = 'terms'""",
    ]),
]

LATEST = MIGRATIONS[-1][0]
