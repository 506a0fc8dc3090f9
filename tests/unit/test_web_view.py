"""The page/metrics summary of the status document: exact field names, absent sections
tolerated, a section that breaks its contract shown as an error (never a crash).

tests/integration/test_web_contract.py checks the same view against real services."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from agent.web.view import summarize
from tests import web_samples

UPLINK = {"enabled": True, "connected": False, "broker": "mqtt://b:1883", "protocol": None,
          "connects": 0, "last_error": "refused", "topic_root": "classroom/s/r",
          "outbox_depth": 12, "outbox_bytes": 3000, "outbox_oldest_age_s": 40.5,
          "outbox_max_bytes": 1 << 28, "sent_total": 0, "enqueued_total": 12,
          "dropped_total": 0, "dropped_by_priority": {}}
LESSON = {"lesson_id": "l-1", "kind": "scheduled", "period": "p1", "subject": "Maths",
          "class": "7a", "teacher": "Li", "title": "", "start": "2026-03-02T08:00:00+00:00",
          "end": "2026-03-02T08:45:00+00:00"}


def test_bare_agent_has_no_capability_sections() -> None:
    v = summarize({"agent": {"version": "x"}, "devices": []})
    assert v["uplink"] is None and v["recording"] is None and v["lesson"] is None
    assert v["tablets"] is None and v["engagement"] is None and v["system"] is None
    assert v["devices"] == {"total": 0, "by_status": {"online": 0, "offline": 0, "fault": 0},
                            "cameras_down": []}
    assert v["problems"] == []


def test_full_document() -> None:
    doc = {
        "agent": {},
        "devices": [
            {"device_id": "cam1", "kind": "camera", "status": "offline", "reason": "timeout"},
            {"device_id": "p", "kind": "panel", "status": "online"},
        ],
        "uplink": UPLINK,
        "recording": web_samples.recording(
            state="recording", started="2026-03-02T08:28:30+00:00", elapsed_s=90.0,
            title="Maths 7a", free_bytes=1024**3, disk_low=True),
        "lessons": {"current": LESSON, "next": None, "timetable": True, "smart_use_rule": ""},
        "tablets": web_samples.tablets(connected=30, checked_in=28),
        "engagement": web_samples.engagement(
            faces=31, head_up_rate=0.85, last_window=web_samples.engagement_window()),
    }
    v = summarize(doc)
    assert v["uplink"]["enabled"] and not v["uplink"]["connected"]
    assert v["uplink"]["outbox_depth"] == 12 and v["uplink"]["last_error"] == "refused"
    assert v["recording"]["active"] and v["recording"]["elapsed_s"] == 90.0
    assert v["recording"]["disk_low"] and v["recording"]["disk_free_bytes"] == 1024**3
    assert v["lesson"]["current"]["subject"] == "Maths" and v["lesson"]["next"] is None
    assert v["tablets"]["connected"] == 30 and v["tablets"]["answers"] is None  # no question
    assert v["engagement"]["now"] == {"head_count": 31, "head_up_rate": 0.85,
                                      "hands_raised": 1}
    assert v["engagement"]["last_window"]["head_count"] == 30.0
    assert v["devices"]["cameras_down"] == ["cam1"]
    assert v["problems"] == ["camera_offline", "disk_low", "no_network"]


def test_disabled_uplink_is_not_a_network_problem() -> None:
    up = {**UPLINK, "enabled": False, "broker": None, "last_error": ""}
    v = summarize({"uplink": up, "devices": []})
    assert v["uplink"]["last_error"] is None and v["problems"] == []


def test_idle_recording_and_last_outcome() -> None:
    v = summarize({"recording": web_samples.recording(free_bytes=-1), "devices": []})
    rec = v["recording"]
    assert rec["state"] == "idle" and not rec["active"] and rec["elapsed_s"] is None
    assert rec["disk_free_bytes"] is None  # not measured yet
    assert rec["last_state"] is None and v["problems"] == []
    failed = {"recording_id": "r", "state": "failed", "reason": "no camera delivered video",
              "ended": "2026-03-02T08:45:00+00:00"}
    v = summarize({"recording": web_samples.recording(last=failed), "devices": []})
    assert v["recording"]["last_reason"] == "no camera delivered video"
    assert v["problems"] == ["recording_failed"]


def test_paused_engagement_shows_no_live_numbers() -> None:
    # what the service reports while idle: frame numbers cleared, the last window kept
    sec = web_samples.engagement(active=False, active_reason="idle", fps=0.0, faces=None,
                                 head_up_rate=None, hands_raised=None,
                                 last_window=web_samples.engagement_window())
    e = summarize({"engagement": sec, "devices": []})["engagement"]
    assert e["active"] is False and e["active_reason"] == "idle"
    assert e["now"] is None and e["fps"] is None
    assert e["last_window"]["head_up_rate"] == 0.8
    # even a service that left frame numbers behind is not shown as live
    sec = web_samples.engagement(active=False, active_reason="idle")
    assert summarize({"engagement": sec, "devices": []})["engagement"]["now"] is None


def test_a_renamed_field_is_an_error_for_that_section_only() -> None:
    sec = web_samples.tablets()
    sec["clients"] = sec.pop("connected")
    v = summarize({"tablets": sec, "uplink": UPLINK, "devices": []})
    assert "'connected'" in v["tablets"]["error"]
    assert v["uplink"]["outbox_depth"] == 12 and v["problems"] == ["no_network"]


def test_a_failed_status_call_is_shown_as_its_error() -> None:
    # agent/web/api.py puts {"error": ...} where a service's status() raised
    v = summarize({"recording": {"error": "OSError: disk gone"}, "devices": []})
    assert v["recording"] == {"error": "OSError: disk gone"} and v["problems"] == []


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=12), kids,
                                                              max_size=5),
    max_leaves=20,
)
section_names = st.sampled_from(
    ["uplink", "recording", "lessons", "tablets", "engagement", "devices", "system", "errors"]
)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(section_names, json_values, max_size=8))
def test_summarize_never_crashes(doc) -> None:
    v = summarize(doc)
    assert isinstance(v["problems"], list)
    for name in ("uplink", "recording", "lesson", "tablets", "engagement", "system"):
        assert v[name] is None or isinstance(v[name], dict)
