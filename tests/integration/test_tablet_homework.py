"""Tablet homework through a running agent's gateway: only teacher devices assign,
hostile assignment/submission frames (fuzzed) get clear errors and counters and never
crash anything, and the emulator's bots hand assignments in."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.events import AssignmentEvent
from drivers.emulators.tablets import TabletClient, TabletRefused
from drivers.tablets import protocol as p
from tests.integration.test_tablet_gateway import ROSTER, capture, tablet_agent, wait_for


@pytest.fixture
def homework_cfg(tmp_path: Path, make_config: Any) -> Any:
    roster = tmp_path / "roster.csv"
    roster.write_text(ROSTER)
    tokens = tmp_path / "tokens.json"
    tokens.write_text(json.dumps({"tea-tab": {"token": "t-secret", "role": "teacher"},
                                  "stu-tab": {"token": "s-secret", "role": "student"},
                                  "plain-tab": "p-secret"}))
    return make_config(tablets={"enabled": True, "join_code": "7A-2024",
                                "roster_file": str(roster), "device_tokens_file": str(tokens),
                                "rate_per_s": 1000, "rate_burst": 2000})


def teacher(url: str) -> TabletClient:
    return TabletClient(url, "tea-tab", "tea-1", token="t-secret")


async def test_only_a_teacher_device_assigns_and_the_class_receives_it(
        run_agent: Any, homework_cfg: Any) -> None:
    async with tablet_agent(run_agent, homework_cfg) as (agent, svc, url):
        events = capture(agent, AssignmentEvent)
        t = teacher(url)
        kid = TabletClient(url, "tab-01", "stu-001", join_code="7A-2024")
        other = TabletClient(url, "tab-02", "stu-100", join_code="7A-2024")  # class c-8b
        student_token = TabletClient(url, "stu-tab", "stu-002", token="s-secret")
        plain_token = TabletClient(url, "plain-tab", "stu-003", token="p-secret")
        for c in (t, kid, other, student_token, plain_token):
            await c.connect()
        for c in (kid, student_token, plain_token):  # students: join code or token
            with pytest.raises(TabletRefused) as e:
                await c.request(c.assignment("a-x", "c-7a", "math"))
            assert e.value.code == "forbidden"
        assert not any(e.assignment_id == "a-x" for e in events)
        await t.request(t.assignment("a-1", "c-7a", "math", kind="quiz", title="Q1"))
        await wait_for(lambda: len(kid.assignments) == 1 and len(student_token.assignments) == 1)
        assert kid.assignments[0].kind == "quiz" and other.assignments == []
        await kid.request(kid.submission("a-1"))
        await kid.request(kid.submission("a-1"))  # again: acked, not counted
        with pytest.raises(TabletRefused) as e:
            await kid.request(kid.submission("a-unknown"))
        assert e.value.code == "unknown_assignment"
        with pytest.raises(TabletRefused) as e:
            await t.request(t.assignment("a-1", "c-8b", "math"))
        assert e.value.code == "assignment_conflict"
        await wait_for(lambda: len(events) == 2)
        assert [(e.action, e.assignment_id, e.student_id, e.enrolled) for e in events] == [
            ("assigned", "a-1", None, 6), ("submitted", "a-1", "stu-001", None)]
        errors = svc.status()["errors"]
        assert (errors["forbidden"], errors["unknown_assignment"],
                errors["assignment_conflict"]) == (3, 1, 1)
        for c in (t, kid, other, student_token, plain_token):
            await c.close()


def _value() -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(),
                     st.text(max_size=300), st.lists(st.integers(), max_size=3),
                     st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
                     st.sampled_from(["a-1", "c-7a", "math", "homework", "quiz", "",
                                      "2026-09-08T00:00:00Z", "not a date", "x" * 200]))


FIELDS = ["id", "assignment_id", "subject", "class_id", "kind", "due", "title"]


def _plausible() -> st.SearchStrategy[str]:
    """Well-formed messages with values drawn from a small valid-looking set: they pass
    parsing and reach the role, assignment and class checks."""
    ident = st.sampled_from(["a-1", "a-2", "a-nope", "c-7a", "c-8b", "c-none", "x.y:z"])
    return st.builds(
        lambda type_, aid, subj, cls, kind, n: json.dumps(
            {"type": type_, "id": f"m{n}", "assignment_id": aid, "subject": subj,
             "class_id": cls, "kind": kind}),
        st.sampled_from(["assignment", "submission"]), ident,
        st.sampled_from(["math", "english"]), ident,
        st.sampled_from(["homework", "quiz", "practice"]), st.integers(0, 10**9))


def _frame() -> st.SearchStrategy[str]:
    doc = st.builds(
        lambda type_, fields: json.dumps({"type": type_, **fields}),
        st.sampled_from(["assignment", "submission"]),
        st.dictionaries(st.sampled_from(FIELDS), _value(), max_size=len(FIELDS)))
    return st.one_of(doc, _plausible(), doc.map(lambda s: s[: len(s) // 2]),  # cut short
                     doc.map(lambda s: s.replace('"', "'", 1)))


def _hostile_frames(n: int) -> list[str]:
    out: list[str] = []

    @settings(max_examples=n, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(_frame())
    def collect(frame: str) -> None:
        out.append(frame)

    collect()
    return out


async def test_fuzzed_hostile_assignments_and_submissions(run_agent: Any,
                                                          homework_cfg: Any) -> None:
    frames = _hostile_frames(300)
    known = set(p.ERROR_CODES)
    async with tablet_agent(run_agent, homework_cfg) as (agent, svc, url):
        events = capture(agent, AssignmentEvent)
        t = teacher(url)
        await t.connect()
        await t.request(t.assignment("a-1", "c-7a", "math"))  # so some submissions match
        for who in ("teacher", "student"):
            # a fresh connection every 25 frames: 50 protocol errors close one (4004)
            for i in range(0, len(frames), 25):
                c = teacher(url) if who == "teacher" else TabletClient(
                    url, "tab-01", "stu-001", join_code="7A-2024")
                c.retry_delay_s = None
                await c.connect()
                for raw in frames[i:i + 25]:
                    await c.send_raw(raw)
                hb = await c.request(c.heartbeat())  # the session still works
                assert not hb.duplicate
                assert {e.code for e in c.errors} <= known
                assert all(e.code != "internal" for e in c.errors), c.errors
                await c.close()
        await t.close()  # (replaced by the teacher connections above)
        t = teacher(url)
        await t.connect()
        await t.request(t.heartbeat())  # the agent still takes teachers
        errors = svc.status()["errors"]
        assert errors.get("invalid_field", 0) + errors.get("malformed_json", 0) > 0
        assert errors.get("forbidden", 0) > 0  # the student's well-formed assignments
        assert "internal" not in errors
        # counted only what is valid: assignments from the teacher, submissions to a-1
        ids = [(e.action, e.assignment_id, e.student_id) for e in events]
        assert len(ids) == len(set(ids))
        assert all(e.source == "tablet" for e in events)
        assigned = {e.assignment_id for e in events if e.action == "assigned"}
        assert all(e.device_id == "tea-tab" for e in events if e.action == "assigned")
        assert {e.assignment_id for e in events if e.action == "submitted"} <= assigned
        await t.close()


async def test_bots_hand_in_relayed_assignments(run_agent: Any, homework_cfg: Any) -> None:
    from drivers.emulators.tablets import run_bots

    async with tablet_agent(run_agent, homework_cfg) as (agent, svc, url):
        events = capture(agent, AssignmentEvent)
        stop = asyncio.Event()
        task = asyncio.create_task(run_bots(
            url, count=6, join_code="7A-2024", speed=200, late=0.0, absent=0.17,
            drop_every_s=10_000, stop=stop))
        await wait_for(lambda: svc.status()["connected"] == 6)
        res = await agent.ctx.commands.dispatch(
            "tablets/assignments", {"class_id": "c-7a", "subject": "math",
                                    "assignment_id": "a-bots"})
        assert res.ok and res.result["sent_to"] == 6
        # the absent bot never hands in; the others do (about 90 %)
        await wait_for(lambda: sum(e.action == "submitted" for e in events) >= 3, 30)
        await asyncio.sleep(4)  # the rest hand in within 600 clock s (3 s at speed 200)
        stop.set()
        stats = await task
        subs = [e.student_id for e in events if e.action == "submitted"]
        assert len(subs) == len(set(subs)) == stats.submissions <= 5
