"""``classroom-agent simulate panel --protocol pjlink|smart|viewsonic|mdc [--pty | --port N]``

Prints where the emulated panel can be reached (a pty path or a TCP port), then reads
commands on stdin until Ctrl-C / EOF, so a person can make the device change or misbehave:

    power on|off          input NAME          error NAME [ok|warning|error] (pjlink)
    garbage|noise|fragment|partial|silent|drop|wrong_password on|off
    delay SECONDS         unplug              replug             state           quit
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from drivers.emulators.panels import emulator_class
from drivers.panel.protocols import protocol_class

MISBEHAVIOURS = ("garbage", "noise", "fragment", "partial", "silent", "drop", "wrong_password")


def add_simulator(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sp = subparsers.add_parser(
        "panel", help="an interactive panel / projector (PJLink, SMART, ViewSonic, Samsung MDC)",
        description="\n\n".join(__doc__.split("\n\n")[1:]),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sp.add_argument("--protocol", required=True, choices=["pjlink", "smart", "viewsonic", "mdc"])
    where = sp.add_mutually_exclusive_group()
    where.add_argument("--pty", action="store_true", help="serve on a new pseudo-terminal")
    where.add_argument("--port", type=int, help="serve on this TCP port (0 = any free port)")
    sp.add_argument("--host", default="127.0.0.1", help="TCP listen address (default loopback)")
    sp.add_argument("--link", help="with --pty: stable symlink path to create for the pty")
    sp.add_argument("--password", help="PJLink: require this password")
    sp.add_argument("--notify", metavar="HOST:PORT", help="PJLink: send Class 2 notifications here")
    sp.add_argument("--power-saving-after", type=float, metavar="S",
                    help="SMART: go silent after S seconds in standby")
    sp.add_argument("--display-id", type=int, default=1, help="ViewSonic / MDC display ID")
    sp.add_argument("--delay", type=float, default=0.0, help="answer this many seconds late")
    for name in MISBEHAVIOURS:
        sp.add_argument(f"--{name.replace('_', '-')}", action="store_true",
                        help=f"start with the '{name}' misbehaviour on")
    sp.add_argument("--for", dest="duration", type=float, default=0,
                    help="stop after this many seconds (default: until Ctrl-C / EOF)")
    sp.set_defaults(func=cmd_simulate_panel)


def make_emulator(args: argparse.Namespace) -> Any:
    cls = emulator_class(args.protocol)
    kw: dict[str, Any] = {}
    if args.protocol == "pjlink":
        kw["password"] = args.password
        if args.notify:
            host, _, port = args.notify.rpartition(":")
            kw["notify_to"] = (host, int(port))
    elif args.protocol == "smart":
        kw["power_saving_after_s"] = args.power_saving_after
    else:
        kw["display_id"] = args.display_id
    emu = cls(**kw)
    for name in MISBEHAVIOURS:
        if getattr(args, name, False):
            emu.mis.set(name, True)
    emu.mis.delay_s = args.delay
    return emu


def cmd_simulate_panel(args: argparse.Namespace) -> int:
    if args.protocol == "pjlink" and args.pty:
        print("PJLink runs over TCP only; use --port", file=sys.stderr)
        return 2
    try:
        return asyncio.run(_main(args))
    except KeyboardInterrupt:
        return 0


async def _main(args: argparse.Namespace) -> int:
    emu = make_emulator(args)
    use_pty = args.pty or (args.port is None and args.protocol != "pjlink")
    if use_pty:
        path = await emu.start_pty(args.link)
        print(f"{args.protocol} panel emulator on pty {path}", flush=True)
    else:
        port = await emu.start_tcp(args.host, args.port if args.port is not None else 0)
        print(f"{args.protocol} panel emulator on tcp {args.host}:{port}", flush=True)
    try:
        stdin = asyncio.create_task(_stdin_commands(emu))
        waits = [stdin]
        if args.duration:
            waits.append(asyncio.create_task(asyncio.sleep(args.duration)))
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for t in waits:
            t.cancel()
    finally:
        await emu.stop()
    return 0


async def _stdin_commands(emu: Any) -> None:
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            # stdin closed (run in the background): keep serving until stopped
            await asyncio.Event().wait()
        words = line.split()
        if not words:
            continue
        if words[0] in ("quit", "exit"):
            return
        try:
            print(await apply_command(emu, words), flush=True)
        except Exception as e:  # a typo must not stop the emulator
            print(f"error: {e}", flush=True)


async def apply_command(emu: Any, words: list[str]) -> str:
    """One interactive command (also used by tests)."""
    cmd, rest = words[0], words[1:]
    on = (rest[0].lower() in ("on", "1", "true", "yes")) if rest else True
    if cmd in MISBEHAVIOURS:
        emu.mis.set(cmd, on)
        return f"{cmd} {'on' if on else 'off'}"
    if cmd == "delay":
        emu.mis.delay_s = float(rest[0])
        return f"delay {emu.mis.delay_s:g} s"
    if cmd == "unplug":
        await emu.unplug()
        return "unplugged"
    if cmd == "replug":
        await emu.replug()
        return f"replugged: {emu.describe()}"
    if cmd == "state":
        return repr({k: v for k, v in vars(emu).items() if not k.startswith("_")})
    if cmd == "power":
        return await _power(emu, on)
    if cmd == "input" and rest:
        return await _input(emu, rest[0])
    if cmd == "error" and rest and hasattr(emu, "set_error"):
        emu.set_error(rest[0], rest[1] if len(rest) > 1 else "error")
        return f"errors {emu.errors}"
    if cmd == "wake" and hasattr(emu, "wake"):
        await emu.wake()
        return "woken"
    return f"unknown command {cmd!r}; see --help"


async def _power(emu: Any, on: bool) -> str:
    p = emu.protocol
    if p == "pjlink":
        emu.set_power(on)
    elif p == "smart":
        await emu.local("powerstate", "on" if on else "ready")
    elif p == "viewsonic":
        emu.power = "001" if on else "000"
    else:
        emu.power = 1 if on else 0
    return f"power {'on' if on else 'off'}"


async def _input(emu: Any, name: str) -> str:
    code = protocol_class(emu.protocol).input_code(name)
    if code is None:
        return f"unknown input {name!r}"
    p = emu.protocol
    if p == "pjlink":
        emu.select(code)
    elif p == "smart":
        await emu.local("input", code)
    elif p == "viewsonic":
        emu.input = code
    else:
        emu.input = int(code, 16)
    return f"input {name}"
