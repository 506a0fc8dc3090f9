"""``classroom-district``: run | report | check | simulate | demo."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import socket
import sys
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from district.config import ConfigError, DistrictConfig, load

if TYPE_CHECKING:
    # lazy: each subcommand loads only what it runs (psycopg, paho, aiohttp)
    from district.store.store import Store

log = logging.getLogger("district")


def _open_store(cfg: DistrictConfig) -> Store:
    # lazy: each subcommand loads only what it runs (psycopg, paho, aiohttp)
    from district.store.store import Store

    return Store.open(cfg.storage.url, cfg.terms, cfg.schools)


async def _run(cfg: DistrictConfig) -> int:
    # lazy: each subcommand loads only what it runs (paho)
    from district.ingest.collector import Collector

    try:
        store = await asyncio.to_thread(_open_store, cfg)
    except Exception as e:  # a clear line for the journal; systemd restarts us
        print(f"storage.url: cannot open: {e}", file=sys.stderr)
        return 1
    collector = Collector(cfg, store)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    runner = None
    try:
        collector.start()
        if cfg.web.listen:
            # lazy: aiohttp loads only when the HTTP API is on
            from district.web.app import start_web

            runner = await start_web(cfg, store, collector)
        log.info("classroom-district: collecting for %s", cfg.district.name)
        await stop.wait()
        log.info("classroom-district: stopping")
    finally:
        if runner is not None:
            await runner.cleanup()
        await asyncio.to_thread(collector.stop)
        store.close()
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    cfg = load(args.config)
    return asyncio.run(_run(cfg))


def cmd_report(args: argparse.Namespace) -> int:
    # lazy: each subcommand loads only what it runs (XlsxWriter for reports)
    from district.kpi.engine import term_report
    from district.report import render

    cfg = load(args.config)
    cfg.term(args.term)  # a clear error before opening anything
    store = _open_store(cfg)
    try:
        as_of = date.fromisoformat(args.as_of) if args.as_of else None
        report = term_report(cfg, store, args.term, school=args.school, as_of=as_of)
    finally:
        store.close()
    data = render(report, args.format)
    if args.out:
        Path(args.out).write_bytes(data)
    elif args.format == "xlsx":
        print("report: --format xlsx needs --out FILE", file=sys.stderr)
        return 2
    else:
        sys.stdout.buffer.write(data)
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    cfg = load(args.config)
    problems = []
    try:
        store = _open_store(cfg)
        version = store.schema_version()
        store.close()
        print(f"storage: ok (schema {version})")
    except Exception as e:
        problems.append(f"storage.url: cannot open: {e}")

    u = urlsplit(cfg.mqtt.url)
    try:
        with socket.create_connection((u.hostname, u.port or 1883), args.timeout):
            print(f"mqtt: {u.hostname}:{u.port or 1883} reachable")
    except OSError as e:
        problems.append(f"mqtt.url: cannot connect: {e}")
    for p in problems:
        print(p, file=sys.stderr)
    return 1 if problems else 0


def cmd_simulate(args: argparse.Namespace) -> int:
    # lazy: each subcommand loads only what it runs (paho for the simulator)
    from district.simulate.fleet import build
    from district.simulate.publish import publish

    start = date.fromisoformat(args.start) if args.start else None
    if start is None:
        start = date.today() - timedelta(days=args.days * 7 // 5 + 1)
    plan = build(args.rooms, args.schools, args.days, start, seed=args.seed,
                 prefix=args.topic_prefix, faults=not args.no_faults,
                 health_every_min=args.health_every_min)
    print(f"simulate: {len(plan.messages)} messages from {args.rooms} rooms over "
          f"{args.days} school days from {start} ({dict(plan.stats)})", file=sys.stderr)
    sent = publish(plan.messages, args.mqtt, speed=args.speed)
    print(f"simulate: {sent} messages published and acknowledged", file=sys.stderr)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from district.demo import run

    return asyncio.run(run(args))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="classroom-district",
                                 description="District collector for classroom-agent rooms")
    ap.add_argument("-v", "--verbose", action="store_true")
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("run", help="the collector daemon")
    p.add_argument("-c", "--config", required=True)
    p.set_defaults(fn=cmd_run)
    p = sub.add_parser("report", help="the term's figures")
    p.add_argument("-c", "--config", required=True)
    p.add_argument("--term", required=True)
    p.add_argument("--school")
    p.add_argument("--format", choices=("json", "csv", "xlsx"), default="json")
    p.add_argument("--out")
    p.add_argument("--as-of", help="count up to this day (YYYY-MM-DD; default today)")
    p.set_defaults(fn=cmd_report)
    p = sub.add_parser("check", help="validate the config, open storage, reach the broker")
    p.add_argument("-c", "--config", required=True)
    p.add_argument("--timeout", type=float, default=3.0)
    p.set_defaults(fn=cmd_check)
    p = sub.add_parser("simulate", help="publish what a fleet of rooms would publish")
    p.add_argument("--rooms", type=int, default=100)
    p.add_argument("--schools", type=int, default=5)
    p.add_argument("--days", type=int, default=5)
    p.add_argument("--start", help="first day (YYYY-MM-DD)")
    p.add_argument("--speed", type=float, default=0.0,
                   help="simulated seconds per real second (0 = as fast as the broker takes)")
    p.add_argument("--mqtt", default="mqtt://127.0.0.1:1883")
    p.add_argument("--topic-prefix", default="classroom")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--health-every-min", type=int, default=0)
    p.add_argument("--no-faults", action="store_true")
    p.set_defaults(fn=cmd_simulate)
    p = sub.add_parser("demo", help="a simulated district with its dashboard, in one command")
    p.add_argument("--mqtt", metavar="URL", help="use this broker (default: start a mosquitto)")
    p.add_argument("--listen", metavar="HOST:PORT", help="dashboard (default: a free port)")
    p.add_argument("--rooms", type=int, default=50)
    p.add_argument("--schools", type=int, default=8)
    p.add_argument("--weeks", type=int, default=4, help="weeks of the term to simulate")
    p.add_argument("--minutes", type=float, default=3.0,
                   help="real minutes the weeks are compressed into (0 = at once)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--for", dest="for_s", type=float, metavar="SECONDS",
                   help="stop by itself after this long")
    p.set_defaults(fn=cmd_demo)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.cmd == "demo" and (args.rooms < 2 * args.schools or args.schools < 2
                               or args.weeks < 1):
        ap.error("demo: --schools >= 2, --rooms >= 2 x schools, --weeks >= 1")
    if args.cmd == "simulate":
        if args.rooms < 1 or args.schools < 1 or args.days < 1 or args.schools > args.rooms:
            ap.error("--rooms, --schools, --days must be >= 1 and schools <= rooms")
    try:
        rc: int = args.fn(args)
        return rc
    except ConfigError as e:
        for problem in e.problems:
            print(f"config: {problem}", file=sys.stderr)
        return 2
