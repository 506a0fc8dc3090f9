"""How long SIGTERM takes, many times over, while the uplink is busy draining.

Each round: an outbox pre-filled with ``--backlog`` messages, a real ``classroom-agent run``
connected to a local mosquitto, SIGTERM at a random moment of the drain (0-1 s after the
agent is up; with ``--at-online``, the instant its retained ``online`` status arrives,
while it is still subscribing to its commands, as the test that failed in CI did), then
the time until the process has exited and its exit code. The first
session's CI failure was one such SIGTERM that never ended (a cancel swallowed by
asyncio.wait_for on Python 3.11); this measures the spread and the worst case.

    .venv/bin/python bench/shutdown.py [--rounds 30] [--backlog 5000] [--at-online]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import signal
import statistics
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as mqtt

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent.uplink.outbox import Item, Outbox
from agent.uplink.topics import EVENTS
from tests.agentproc import AgentProcess, write_toml
from tests.conftest import Mosquitto, broker_in_tempdir, free_port


async def prefill(data_dir: Path, room: str, n: int) -> None:
    ob = Outbox(data_dir / "outbox.sqlite3", "bench", room)
    await ob.open()
    now = datetime.now(UTC)
    await ob.put_many([Item("events/bench", "bench", now, {"n": i}, EVENTS)
                       for i in range(n)])
    await ob.close()


def one_round(tmp: Path, broker: Mosquitto, backlog: int, i: int,
              at_online: bool) -> tuple[float, int | None, str]:
    data = tmp / f"data{i}"
    data.mkdir()
    room = f"r{i}"  # a room per round: no retained status left over from the last one
    asyncio.run(prefill(data, room, backlog))
    port = free_port()
    cfg = write_toml(tmp / f"agent{i}.toml", {
        "site": {"school": "bench", "room": room},
        "mqtt": {"url": broker.url},
        "storage": {"data_dir": str(data)},
        "web": {"listen": f"127.0.0.1:{port}"},
    })
    online = threading.Event()
    sub = None
    if at_online:
        sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-{i}")
        sub.on_message = lambda _c, _u, m: b'"online"' in m.payload and online.set()
        sub.connect("127.0.0.1", broker.port)
        sub.subscribe(f"classroom/bench/{room}/status", qos=1)
        sub.loop_start()
    with AgentProcess(cfg) as agent:
        if at_online:
            assert online.wait(60), "agent never came online"
        else:
            agent.wait_http(f"http://127.0.0.1:{port}/healthz", timeout=60)
            time.sleep(random.uniform(0.0, 1.0))
        assert agent.proc is not None
        t0 = time.monotonic()
        agent.proc.send_signal(signal.SIGTERM)
        try:
            rc: int | None = agent.proc.wait(60)
        except subprocess.TimeoutExpired:
            rc = None  # still running after 60 s: a hang (the context kills it)
        took = time.monotonic() - t0
    if sub is not None:
        sub.loop_stop()
        sub.disconnect()
    return took, rc, retained_status(broker, room)


def retained_status(broker: Mosquitto, room: str) -> str:
    """What the district sees for the room after the agent is gone."""
    got: list[bytes] = []
    done = threading.Event()
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-check-{room}")
    c.on_message = lambda _c, _u, m: (got.append(m.payload), done.set())
    c.connect("127.0.0.1", broker.port)
    c.subscribe(f"classroom/bench/{room}/status", qos=1)
    c.loop_start()
    done.wait(5)
    c.loop_stop()
    c.disconnect()
    if not got:
        return "none"
    return "online" if b'"online"' in got[0] else "offline" if b'"offline"' in got[0] else "?"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--backlog", type=int, default=5000)
    ap.add_argument("--at-online", action="store_true",
                    help="SIGTERM the instant the online status arrives")
    args = ap.parse_args()
    with broker_in_tempdir("bench-shutdown-") as (tmp, broker):
        times, codes, left = [], [], []
        for i in range(args.rounds):
            took, rc, status = one_round(tmp, broker, args.backlog, i, args.at_online)
            times.append(took)
            codes.append(rc)
            left.append(status)
        bad = [c for c in codes if c != 0]
        when = "at online" if args.at_online else "during the drain"
        print(f"SIGTERM {when} ({args.backlog} messages queued), {args.rounds} rounds: "
              f"exit in median {statistics.median(times):.2f} s, max {max(times):.2f} s "
              f"(budget: a few seconds; systemd TimeoutStopSec=30); exit codes not 0: "
              f"{len(bad)} {bad if bad else ''}; retained status afterwards 'offline' in "
              f"{left.count('offline')}/{len(left)} {sorted(set(left) - {'offline'})}")


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    main()
