"""The ``classroom-agent`` command line.

Each subcommand is a small function; heavy imports happen inside it so ``--help`` and
``status`` stay quick. Capabilities add their subcommands in ``build_parser``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import urllib.parse
from typing import Any

DEFAULT_CONFIG = "/etc/classroom-agent/agent.toml"


def _setup_logging(level: str = "INFO") -> None:
    logging.basicConfig(
        level=getattr(logging, level, logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def _load_config(path: str):
    from agent.config import ConfigError, load

    try:
        return load(path)
    except ConfigError as e:
        for p in e.problems:
            print(f"config error: {p}", file=sys.stderr)
        raise SystemExit(2) from None


def cmd_run(args: argparse.Namespace) -> int:
    from agent.runtime.agent import Agent

    cfg = _load_config(args.config)
    _setup_logging(cfg.logging.level)
    agent = Agent(cfg, config_path=args.config)
    try:
        asyncio.run(agent.run())
    except Exception as e:  # a refusal to start: one clear line, non-zero exit
        from agent.config import ConfigError

        if isinstance(e, ConfigError):
            for p in e.problems:
                print(f"config error: {p}", file=sys.stderr)
            return 2
        logging.getLogger("agent").exception("agent failed")
        return 1
    return agent.ctx.exit_code


def cmd_demo(args: argparse.Namespace) -> int:
    from agent.demo import run_demo

    _setup_logging("INFO")
    return run_demo(args)


def cmd_check(args: argparse.Namespace) -> int:
    from agent.check import run_check

    cfg = _load_config(args.config)
    if args.config_only:
        # systemd's ExecStartPre: a room must start (and queue its data) while the
        # district, a panel or a camera is unreachable, so only the config is judged here
        print(f"config: OK (school {cfg.site.school}, room {cfg.site.room}); "
              "devices and broker not probed (--config-only)")
        return 0
    return asyncio.run(run_check(cfg, timeout_s=args.timeout))


def _api_url(args: argparse.Namespace) -> tuple[str, Any]:
    """The agent's base URL and, when its web server speaks TLS, the client context that
    trusts its configured certificate."""
    from agent.config import ConfigError, load, parse_listen

    try:
        web_cfg = load(args.config).web
    except (ConfigError, OSError):
        web_cfg = None
    ctx = None
    if web_cfg is not None and web_cfg.tls_cert_file:
        from agent.web.tls import client_context

        ctx = client_context(web_cfg)
    if args.url:
        return args.url.rstrip("/"), ctx
    try:
        host, port = parse_listen(web_cfg.listen) if web_cfg else ("127.0.0.1", 8080)
    except ValueError:
        host, port = "127.0.0.1", 8080
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    scheme = "https" if ctx is not None else "http"
    return f"{scheme}://{'[' + host + ']' if ':' in host else host}:{port}", ctx


def _http(method: str, url: str, token: str | None, body: dict | None = None,
          context: Any = None) -> tuple[int, dict]:
    import urllib.error
    import urllib.request

    data = json.dumps(body or {}).encode() if method == "POST" else None
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    req.add_header("X-Requested-With", "classroom-agent-cli")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=10, context=context) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        try:
            return e.code, json.loads(e.read() or b"{}")
        except ValueError:
            return e.code, {"error": {"message": e.reason}}


def _client_call(args: argparse.Namespace, method: str, path: str, body: dict | None = None) -> int:
    import urllib.error

    base, context = _api_url(args)
    url = base + path
    token = args.token or os.environ.get("CLASSROOM_AGENT_TOKEN")
    try:
        code, doc = _http(method, url, token, body, context)
    except (urllib.error.URLError, OSError) as e:
        print(f"cannot reach the agent at {url}: {getattr(e, 'reason', e)}", file=sys.stderr)
        return 3
    print(json.dumps(doc, indent=2, ensure_ascii=False))
    return 0 if code < 400 else 1


def cmd_status(args: argparse.Namespace) -> int:
    return _client_call(args, "GET", "/api/status")


def cmd_record(args: argparse.Namespace) -> int:
    if args.action == "showcase":
        if not args.recording_id:
            print("record showcase: give the recording id (see GET /api/recordings)",
                  file=sys.stderr)
            return 2
        path = f"/api/recordings/{urllib.parse.quote(args.recording_id, safe='')}/showcase"
        return _client_call(args, "DELETE" if args.undo else "POST", path)
    body = {k: v for k, v in (("title", args.title), ("subject", args.subject)) if v}
    return _client_call(args, "POST", f"/api/recording/{args.action}", body)


def cmd_live(args: argparse.Namespace) -> int:
    return _client_call(args, "POST", f"/api/live/{args.action}", {})


def build_parser() -> argparse.ArgumentParser:
    from agent import __version__

    p = argparse.ArgumentParser(prog="classroom-agent", description=__doc__.splitlines()[0])
    p.add_argument("--version", action="version", version=f"classroom-agent {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def with_config(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("-c", "--config", default=os.environ.get("CLASSROOM_AGENT_CONFIG",
                                                                  DEFAULT_CONFIG))

    sp = sub.add_parser("run", help="run the agent (foreground; systemd runs this)")
    with_config(sp)
    sp.set_defaults(func=cmd_run)

    sp = sub.add_parser("demo", help="run the whole agent on a simulated classroom")
    sp.add_argument("--mqtt", metavar="URL", help="publish to this broker (default: off)")
    sp.add_argument("--data-dir", help="keep demo data here (default: a fresh temp dir)")
    sp.add_argument("--live-url", metavar="URL",
                    help="push the demo's live lesson to this rtmp:// or srt:// server "
                         "(default: no live lesson; docs/live.md runs one locally)")
    sp.add_argument("--listen", default="127.0.0.1:8080", help="web HOST:PORT")
    sp.add_argument("--for", dest="duration", type=float, default=0,
                    help="stop after this many seconds (default: until Ctrl-C)")
    sp.set_defaults(func=cmd_demo)

    sp = sub.add_parser("check", help="validate the config and probe the broker and devices")
    with_config(sp)
    sp.add_argument("--timeout", type=float, default=5.0, help="seconds per probe")
    sp.add_argument("--config-only", action="store_true",
                    help="only validate the config, probe nothing (offline; systemd uses this)")
    sp.set_defaults(func=cmd_check)

    def client(sp: argparse.ArgumentParser) -> None:
        with_config(sp)
        sp.add_argument("--url", help="agent base URL (default: from the config's web.listen)")
        sp.add_argument("--token", help="API token (or CLASSROOM_AGENT_TOKEN)")

    sp = sub.add_parser("status", help="print a running agent's status")
    client(sp)
    sp.set_defaults(func=cmd_status)

    sp = sub.add_parser("record", help="start or stop recording on a running agent, or "
                                       "keep a recording as a showcase lesson")
    sp.add_argument("action", choices=["start", "stop", "showcase"])
    sp.add_argument("recording_id", nargs="?", help="showcase: the recording's id")
    sp.add_argument("--undo", action="store_true",
                    help="showcase: take the marking back (the same day only)")
    sp.add_argument("--title")
    sp.add_argument("--subject")
    client(sp)
    sp.set_defaults(func=cmd_record)

    sp = sub.add_parser("live", help="start or stop the live push to the district's "
                        "streaming server on a running agent")
    sp.add_argument("action", choices=["start", "stop"])
    client(sp)
    sp.set_defaults(func=cmd_live)

    # capability subcommands (simulate, analyze ...) register here
    for module in EXTRA_COMMANDS:
        __import__(module, fromlist=["add_parser"]).add_parser(sub)
    return p


# Modules with ``add_parser(subparsers)`` adding their own subcommands.
EXTRA_COMMANDS: list[str] = [
    "agent.simulate",  # simulate panel | tablets ... (device emulators)
    "agent.web.hashcli",
    "agent.engagement.cli",
]


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command in ("run", "demo"):
        from agent.runtime.memory import limit_malloc_arenas

        limit_malloc_arenas()
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
