"""The simulated classroom's parts, in start order (see agent/demo.py for the contract)."""

from __future__ import annotations

from agent.demo import Part
from agent.engagement.demo import demo_part as engagement_part
from agent.lessons.demo import demo_part as lessons_part
from agent.live.demo import live_part
from agent.panel.demo import demo_part as panel_part
from agent.recording.demo import camera_part
from agent.tablets.demo import demo_part as tablets_part

# lessons first: the tablets part takes its class from the demo timetable, the live part
# makes its first lesson a live one
PARTS: list[Part] = [lessons_part, live_part, panel_part, camera_part, tablets_part,
                     engagement_part]
