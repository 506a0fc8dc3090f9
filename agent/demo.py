"""``classroom-agent demo``: the whole agent on a simulated classroom.

Config comes from config/demo.toml plus what each demo part adds (an emulated panel on a
pty, a camera playing a generated clip, tablet bots, a timetable around now). Data goes to
a fresh temp dir unless ``--data-dir`` is given; the uplink is off unless ``--mqtt URL``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import tempfile
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from agent.config import ConfigError, from_dict
from agent.runtime.service import AgentContext

log = logging.getLogger("agent.demo")

DEMO_TOML = Path(__file__).resolve().parents[1] / "config" / "demo.toml"

# A part: (config data, work dir, future of the running agent's context) -> async context
# manager. It adds its config sections before the agent starts, may wait for the agent to
# run things against it, and cleans up on exit.
Part = Callable[[dict[str, Any], Path, "asyncio.Future[AgentContext]"],
                contextlib.AbstractAsyncContextManager[None]]


def demo_parts() -> list[Part]:
    from agent import demo_parts as parts

    return parts.PARTS


def base_config(args: Any, data_dir: Path) -> dict[str, Any]:
    data: dict[str, Any] = (
        tomllib.loads(DEMO_TOML.read_text()) if DEMO_TOML.exists()
        else {"site": {"school": "demo-school", "room": "demo-101", "name": "Demo classroom"}}
    )
    data.setdefault("storage", {})["data_dir"] = str(data_dir)
    data.setdefault("web", {})["listen"] = args.listen
    if args.mqtt:
        data.setdefault("mqtt", {})["url"] = args.mqtt
    if getattr(args, "live_url", None):
        data.setdefault("live", {})["url"] = args.live_url
    return data


async def _run(args: Any, data_dir: Path) -> int:
    from agent.runtime.agent import Agent

    data = base_config(args, data_dir)
    work = data_dir / "demo"
    work.mkdir(parents=True, exist_ok=True)
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[AgentContext] = loop.create_future()
    async with contextlib.AsyncExitStack() as stack:
        for part in demo_parts():
            await stack.enter_async_context(part(data, work, ready))
        try:
            cfg = from_dict(data)
        except ConfigError as e:
            for p in e.problems:
                print(f"demo config error: {p}")
            return 2
        agent = Agent(cfg, demo=True)

        def on_ready(ctx: AgentContext) -> None:
            from agent.web.app import WebService

            web = ctx.service(WebService)
            url = web.url if web else "(web disabled)"
            print(f"\nclassroom-agent demo is running: {data_dir}\n"
                  f"  status page:   {url}\n  teacher panel: {url}panel\n"
                  f"  uplink:        {args.mqtt or 'off (use --mqtt mqtt://host:1883)'}\n"
                  f"  live lesson:   {_live_shown(args)}\n"
                  "Press Ctrl-C to stop.\n", flush=True)
            ready.set_result(ctx)

        if args.duration:
            loop.call_later(args.duration, agent.request_stop)
        try:
            await agent.run(on_ready=on_ready)
        finally:
            if not ready.done():
                ready.cancel()
    return 0


def _live_shown(args: Any) -> str:
    from agent.live.target import TargetError, parse

    if not getattr(args, "live_url", None):
        return "off (use --live-url rtmp://host/live/key, see docs/live.md)"
    try:
        return f"{parse(args.live_url).shown} (the first lesson is live)"
    except TargetError as e:
        return f"bad --live-url: {e}"


@contextlib.contextmanager
def _data_dir(given: str | None) -> Iterator[Path]:
    if given:
        yield Path(given)
        return
    d = Path(tempfile.mkdtemp(prefix="classroom-agent-demo-"))
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def run_demo(args: Any) -> int:
    with _data_dir(args.data_dir) as d:
        return asyncio.run(_run(args, d))
