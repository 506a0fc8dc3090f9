"""Who may talk to the local web server, and protection of state-changing requests.

Rules (see docs/http-api.md):
- Loopback by default. Listening on any other address needs credentials in config
  (``web.token``/``web.token_file``, or ``web.username`` + ``web.password_hash``); without
  them the agent refuses to start (``listen_problems`` is also a config semantic check).
- A request from a loopback peer that names a loopback Host is trusted when
  ``web.trust_loopback`` (the teacher panel's kiosk browser and the CLI on the box). The
  Host check stops DNS rebinding: a web page in that browser cannot borrow the trust.
- Every other request needs ``Authorization: Bearer <token>`` or basic auth whose password
  matches the pbkdf2 hash. Pages need it too (the browser shows its login prompt).
- State-changing methods must carry ``X-Requested-With`` or a same-origin ``Origin``/
  ``Referer`` (CSRF: browsers cannot add either to a cross-site form post), unless they
  carry a Bearer token (never attached by a browser on its own).
- ``EXEMPT_PREFIXES`` skip web auth: /healthz (liveness probes) and /ws/tablet (tablets
  authenticate inside their own protocol).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from aiohttp import web

from agent.config import ConfigError, read_secret
from agent.runtime.service import AgentContext
from agent.web.credentials import is_loopback_host, listen_problems, verify_password

log = logging.getLogger(__name__)

EXEMPT_PREFIXES: list[str] = ["/healthz", "/ws/tablet"]
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


# --------------------------------------------------------------------------- requests


def _host_only(host_header: str) -> str:
    """``127.0.0.1:8080`` -> ``127.0.0.1``; ``[::1]:8080`` -> ``::1``."""
    if host_header.startswith("["):
        return host_header[1:].split("]", 1)[0]
    return host_header.rsplit(":", 1)[0] if host_header.count(":") == 1 else host_header


def _peer_is_loopback(request: web.Request) -> bool:
    peer = request.remote or ""
    return is_loopback_host(peer)


class Authenticator:
    """Checks one request's credentials against the config (built once per app)."""

    def __init__(self, ctx: AgentContext) -> None:
        w = ctx.config.web
        self.trust_loopback = w.trust_loopback
        token = read_secret(w.token, w.token_file)
        self.token = token.encode() if token else None
        self.username = w.username
        self.password_hash = w.password_hash
        # pbkdf2 costs ~0.1 s: verified headers are remembered (bounded) so a page that
        # polls does not pay it on every request, and the check runs off the loop.
        self._verified: OrderedDict[bytes, bool] = OrderedDict()
        self.failures = ctx.metrics.counter(
            "classroom_web_auth_failures_total", "Web requests refused for missing/bad auth",
            ["reason"],
        )

    @property
    def basic_enabled(self) -> bool:
        return bool(self.username and self.password_hash)

    def trusted_local(self, request: web.Request) -> bool:
        return (
            self.trust_loopback
            and _peer_is_loopback(request)
            and is_loopback_host(_host_only(request.host or ""))
        )

    def bearer(self, request: web.Request) -> bool:
        """A valid ``Authorization: Bearer`` header."""
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        return bool(
            self.token
            and scheme.lower() == "bearer"
            and hmac.compare_digest(value.strip().encode(), self.token)
        )

    async def basic(self, request: web.Request) -> bool:
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        if not self.basic_enabled or scheme.lower() != "basic":
            return False
        key = hashlib.sha256(value.strip().encode()).digest()
        if key in self._verified:
            self._verified.move_to_end(key)
            return True
        try:
            user, sep, password = base64.b64decode(value.strip(), validate=True).decode().partition(
                ":"
            )
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return False
        if not sep or not hmac.compare_digest(user.encode(), (self.username or "").encode()):
            return False
        ok = await asyncio.to_thread(verify_password, password, self.password_hash or "")
        if ok:
            self._verified[key] = True
            while len(self._verified) > 64:
                self._verified.popitem(last=False)
        return ok

    async def check(self, request: web.Request) -> str | None:
        """None when the request may proceed, else the refusal reason."""
        if any(request.path.startswith(p) for p in EXEMPT_PREFIXES):
            return None
        if self.trusted_local(request):
            return None
        if self.bearer(request) or await self.basic(request):
            return None
        if "Authorization" in request.headers:
            return "bad_credentials"
        if _peer_is_loopback(request) and self.trust_loopback:
            return "bad_host"  # a loopback peer naming a foreign Host: DNS rebinding
        return "missing_credentials"


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None):
    return web.json_response(
        {"ok": False, "error": {"code": code, "message": message}}, status=status, headers=headers
    )


def same_origin(request: web.Request) -> bool:
    """Origin (or, without it, Referer) names the host the request was sent to."""
    source = request.headers.get("Origin") or request.headers.get("Referer")
    if not source or source == "null":
        return False
    return urlsplit(source).netloc.lower() == (request.host or "").lower()


def make_middlewares(ctx: AgentContext) -> list:
    auth = Authenticator(ctx)
    csrf_rejected = ctx.metrics.counter(
        "classroom_web_csrf_rejected_total", "State-changing web requests refused as cross-site"
    )

    @web.middleware
    async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        reason = await auth.check(request)
        if reason is not None:
            auth.failures.labels(reason).inc()
            headers = (
                {"WWW-Authenticate": 'Basic realm="classroom-agent", charset="UTF-8"'}
                if auth.basic_enabled
                else {"WWW-Authenticate": 'Bearer realm="classroom-agent"'}
            )
            if reason == "bad_host":
                return _error(403, "bad_host", "Host header is not this agent's address")
            return _error(401, "unauthorized", "authentication required", headers)
        return await handler(request)

    @web.middleware
    async def csrf_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method not in SAFE_METHODS and not (
            request.headers.get("X-Requested-With") or same_origin(request) or auth.bearer(request)
        ):
            csrf_rejected.inc()
            return _error(
                403, "csrf",
                "cross-site request refused: send X-Requested-With or a same-origin Origin",
            )
        return await handler(request)

    return [auth_middleware, csrf_middleware]


def setup(app: web.Application, ctx: AgentContext) -> None:
    # Re-checked here as well as at config load: configs built in code (demo, tests)
    # skip the loader, and an open port without credentials must never happen.
    problems = listen_problems(ctx.config)
    if problems:
        raise ConfigError(problems)
    # first in the chain: nothing runs before the request is authenticated
    for i, mw in enumerate(make_middlewares(ctx)):
        app.middlewares.insert(i, mw)
