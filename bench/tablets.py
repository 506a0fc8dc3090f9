"""Tablet gateway: acknowledgement latency and throughput of the real agent.

The agent runs as its own process (``classroom-agent run``: web server, tablet service,
durable outbox, SQLite dedupe store; no broker, so the outbox only fills). This process
plays the tablets with real WebSocket clients (``drivers.emulators.tablets``). Latency is
send -> ack as the tablet sees it; every message is counted and published (durable in the
outbox) before its ack.

1. steady load: 60 tablets x 5 events/s each (answers, hands, focus, heartbeats):
   p50 / p99 / max acknowledgement latency (target p99 < 25 ms) and agent CPU;
2. saturation: every tablet keeps ``--window`` messages in flight: the sustained acked
   events/s and the agent's CPU (the agent is one asyncio thread plus SQLite writer
   threads; events/s per agent CPU-second is the one-core figure).

    .venv/bin/python bench/tablets.py [--tablets 60] [--rate 5] [--seconds 20]

Both processes share this machine's cores: the load generator's CPU is reported too.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp
import psutil

from drivers.emulators.tablets import TabletClient
from drivers.tablets import protocol as p
from tests.agentproc import AgentProcess, write_toml
from tests.conftest import free_port


class Timed(TabletClient):
    """Records send -> ack latency per message id."""

    def __init__(self, *a, **kw) -> None:
        super().__init__(*a, **kw)
        self.sent_at: dict[str, float] = {}
        self.lat: list[float] = []
        self.inflight = 0
        self.slot = asyncio.Event()

    async def send(self, msg: p.ClientMessage) -> str:
        self.sent_at[msg.id] = time.perf_counter()
        self.inflight += 1
        return await super().send(msg)

    def _on_message(self, msg: p.ServerMessage) -> None:
        if isinstance(msg, p.Ack):
            t = self.sent_at.pop(msg.ref, None)
            if t is not None:
                self.lat.append(time.perf_counter() - t)
                self.inflight -= 1
                self.slot.set()
        super()._on_message(msg)


def event_stream(c: Timed):
    n = itertools.count()
    while True:
        i = next(n)
        k = i % 5
        if k == 0:
            yield c.answer(f"q{i}", choice="ABCD"[i % 4], time_to_answer_s=3.0)
        elif k == 1:
            yield c.hand("raise")
        elif k == 2:
            yield c.hand("lower")
        elif k == 3:
            yield c.focus("background" if i % 2 else "foreground")
        else:
            yield c.heartbeat()


async def steady(clients: list[Timed], rate: float, seconds: float) -> None:
    async def one(c: Timed, phase: float) -> None:
        await asyncio.sleep(phase)
        gen = event_stream(c)
        period = 1.0 / rate
        t_next = time.perf_counter()
        end = t_next + seconds
        while t_next < end:
            await c.send(next(gen))
            t_next += period
            await asyncio.sleep(max(0.0, t_next - time.perf_counter()))

    await asyncio.gather(*(one(c, i / len(clients) / rate) for i, c in enumerate(clients)))


async def saturate(clients: list[Timed], window: int, seconds: float) -> None:
    end = time.perf_counter() + seconds

    async def one(c: Timed) -> None:
        gen = event_stream(c)
        while time.perf_counter() < end:
            while c.inflight >= window:
                c.slot.clear()
                await c.slot.wait()
            await c.send(next(gen))

    await asyncio.gather(*(one(c) for c in clients))


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")


async def run(args: argparse.Namespace, tmp: Path) -> None:
    roster = tmp / "roster.csv"
    roster.write_text("classSourcedId,userSourcedId\n"
                      + "".join(f"c1,stu-{i:03d}\n" for i in range(args.tablets)))
    port = free_port()
    cfg = write_toml(tmp / "agent.toml", {
        "site": {"school": "bench", "room": "r1"},
        "storage": {"data_dir": str(tmp / "data")},
        "web": {"listen": f"127.0.0.1:{port}"},
        "health": {"interval_s": 3600.0},
        "tablets": {"enabled": True, "join_code": "BENCH", "roster_file": str(roster),
                    "rate_per_s": 10000.0, "rate_burst": 10000, "max_tablets": 1000},
    })
    agent = AgentProcess(cfg).start()
    try:
        agent.wait_http(f"http://127.0.0.1:{port}/healthz")
        proc = psutil.Process(agent.proc.pid)
        me = psutil.Process()
        url = f"ws://127.0.0.1:{port}/ws/tablet"
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
            clients = [Timed(url, f"tab-{i:03d}", f"stu-{i:03d}", join_code="BENCH", http=http)
                       for i in range(args.tablets)]
            for c in clients:
                await c.connect()
            # warm-up (connections beyond aiohttp's default pool of 100 need limit=0)
            await steady(clients, args.rate, 2.0)
            await asyncio.sleep(0.5)
            for c in clients:
                c.lat.clear()

            def cpu(pr: psutil.Process) -> float:
                t = pr.cpu_times()
                return t.user + t.system

            a0, m0, t0 = cpu(proc), cpu(me), time.perf_counter()
            await steady(clients, args.rate, args.seconds)
            await asyncio.sleep(0.5)
            a1, m1, t1 = cpu(proc), cpu(me), time.perf_counter()
            lat = [x for c in clients for x in c.lat]
            wall = t1 - t0 - 0.5
            print(f"\n1. steady load: {args.tablets} tablets x {args.rate:g} events/s for "
                  f"{args.seconds:g} s")
            print(f"   acked {len(lat)} events ({len(lat) / wall:.0f}/s), "
                  f"unacked {sum(len(c.sent_at) for c in clients)}")
            print(f"   ack latency p50 {pct(lat, .5) * 1e3:.2f} ms   p99 {pct(lat, .99) * 1e3:.2f}"
                  f" ms   max {max(lat) * 1e3:.2f} ms   mean {statistics.mean(lat) * 1e3:.2f} ms")
            print(f"   agent CPU {(a1 - a0) / (t1 - t0) * 100:.1f}% of a core; "
                  f"load generator {(m1 - m0) / (t1 - t0) * 100:.1f}%")
            p99_ms = pct(lat, .99) * 1e3
            print(f"   p99 / target 25 ms = {p99_ms / 25:.2f}")

            for c in clients:
                c.lat.clear()
            a0, m0, t0 = cpu(proc), cpu(me), time.perf_counter()
            await saturate(clients, args.window, args.seconds)
            await asyncio.sleep(1.0)
            a1, m1, t1 = cpu(proc), cpu(me), time.perf_counter()
            n = sum(len(c.lat) for c in clients)
            lat = [x for c in clients for x in c.lat]
            wall = t1 - t0
            agent_cpu = a1 - a0
            print(f"\n2. saturation: {args.tablets} tablets, {args.window} in flight each, "
                  f"{args.seconds:g} s")
            print(f"   acked {n} events: {n / wall:.0f} events/s; ack p50 "
                  f"{pct(lat, .5) * 1e3:.1f} ms p99 {pct(lat, .99) * 1e3:.1f} ms")
            print(f"   agent CPU {agent_cpu / wall * 100:.0f}% of a core -> "
                  f"{n / agent_cpu:.0f} events per agent CPU-second (one-core capacity); "
                  f"load generator {(m1 - m0) / wall * 100:.0f}%")
            print(f"   one-core capacity / steady load ({args.tablets * args.rate:g}/s) = "
                  f"{n / agent_cpu / (args.tablets * args.rate):.1f}x")
            for c in clients:
                await c.close()
    finally:
        agent.terminate()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tablets", type=int, default=60)
    ap.add_argument("--rate", type=float, default=5.0, help="events/s per tablet")
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--window", type=int, default=8, help="in-flight messages per tablet "
                                                          "in the saturation run")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-tablets-") as d:
        asyncio.run(run(args, Path(d)))


if __name__ == "__main__":
    main()
