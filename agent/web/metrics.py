"""``GET /metrics``: Prometheus text exposition.

Two parts: everything components registered in ``ctx.metrics`` (counters, histograms),
then gauges computed at scrape time from the status document (uplink, outbox, devices,
recording, tablets, engagement, loop lag), so they are never stale and need no task.
A gauge whose name a component already registered is skipped (the component's wins).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from agent.runtime.service import AgentContext
from agent.web.api import status_document
from agent.web.view import number, summarize


def _g(name: str, doc: str, value: Any, labels: dict[str, str] | None = None) -> Metric | None:
    v = number(value)
    if v is None:
        return None
    fam = GaugeMetricFamily(name, doc, labels=list(labels or {}))
    fam.add_metric(list((labels or {}).values()), v)
    return fam


def _ok(section: dict[str, Any] | None) -> dict[str, Any] | None:
    """A view section to export from: present and matching its contract."""
    return section if section is not None and "error" not in section else None


def status_metrics(doc: dict[str, Any]) -> Iterator[Metric]:
    """Gauges from one status document (a pure function: easy to test)."""
    view = summarize(doc)
    agent = doc["agent"]
    info = InfoMetricFamily("classroom_agent", "Agent version and site")
    info.add_metric([], {
        "version": str(agent["version"]),
        "school": str(agent["school"]),
        "room": str(agent["room"]),
    })
    yield info
    out: list[Metric | None] = [
        _g("classroom_agent_uptime_seconds", "Seconds since the agent started",
           agent["uptime_s"]),
        _g("classroom_loop_lag_seconds", "Latest event-loop lag", agent["loop_lag_ms"] / 1000.0),
    ]
    system = _ok(view["system"])
    if system:
        out += [
            _g("classroom_system_cpu_percent", "System CPU use", system["cpu_percent"]),
            _g("classroom_system_memory_percent", "System memory use",
               system["memory_percent"]),
            _g("classroom_system_temperature_celsius", "CPU temperature",
               system["temperature_c"]),
        ]
    up = _ok(view["uplink"])
    if up:
        out += [
            _g("classroom_uplink_connected", "1 when connected to the district broker",
               1 if up["connected"] else 0),
            _g("classroom_outbox_depth_messages", "Messages waiting in the outbox",
               up["outbox_depth"]),
            _g("classroom_outbox_oldest_age_seconds", "Age of the oldest queued message",
               up["outbox_oldest_age_s"]),
        ]
    devices = GaugeMetricFamily(
        "classroom_device_up", "1 when a device is online, 0 offline or fault",
        labels=["device_id", "kind", "status"],
    )
    for d in doc["devices"]:
        devices.add_metric([str(d["device_id"]), str(d["kind"]), str(d["status"])],
                           1.0 if d["status"] == "online" else 0.0)
    out.append(devices)
    by_status = GaugeMetricFamily(
        "classroom_devices", "Devices by status", labels=["status"]
    )
    for st, n in (_ok(view["devices"]) or {"by_status": {}})["by_status"].items():
        by_status.add_metric([st], float(n))
    out.append(by_status)
    rec = _ok(view["recording"])
    if rec:
        out += [
            _g("classroom_recording_active", "1 while recording", 1 if rec["active"] else 0),
            _g("classroom_recording_elapsed_seconds", "Length of the running recording",
               rec["elapsed_s"] if rec["active"] else 0),
            _g("classroom_recording_disk_free_bytes", "Free bytes for recordings",
               rec["disk_free_bytes"]),
        ]
    tab = _ok(view["tablets"])
    if tab:
        out += [
            _g("classroom_tablets_connected", "Tablets connected now", tab["connected"]),
            _g("classroom_tablets_checked_in", "Students checked in this lesson",
               tab["checked_in"]),
            _g("classroom_tablets_hands_up", "Hands raised on tablets now", tab["hands_up"]),
        ]
    eng = _ok(view["engagement"])
    # only while analysis runs: a paused room exports no stale engagement numbers
    win = eng["last_window"] if eng and eng["active"] else None
    if win:
        out += [
            _g("classroom_engagement_head_count", "People seen (latest window)",
               win["head_count"]),
            _g("classroom_engagement_head_up_ratio", "Share of heads up (latest window)",
               win["head_up_rate"]),
            _g("classroom_engagement_hands_raised", "Hands raised (latest window)",
               win["hands_raised"]),
        ]
    if eng:
        out.append(_g("classroom_engagement_fps", "Frames analysed per second",
                      eng["fps"] or 0))
    for m in out:
        if m is not None:
            yield m


class _StatusCollector:
    def __init__(self, ctx: AgentContext) -> None:
        self.ctx = ctx

    def collect(self) -> Iterator[Metric]:
        taken = {m.name for m in self.ctx.metrics.registry.collect()}
        for m in status_metrics(status_document(self.ctx)):
            if m.name not in taken:
                yield m


async def metrics(request: web.Request) -> web.Response:
    from agent.web.app import CTX

    ctx = request.app[CTX]
    reg = CollectorRegistry(auto_describe=False)
    reg.register(_StatusCollector(ctx))
    body = ctx.metrics.render() + generate_latest(reg)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def setup(app: web.Application, ctx: AgentContext) -> None:
    app.router.add_get("/metrics", metrics)
