"""Built-in TLS for the web server (``https://``, and ``wss://`` for tablets).

``web.tls_cert_file`` (PEM, the certificate chain, leaf first) and ``web.tls_key_file``
(PEM private key) turn it on; the server then speaks only TLS on ``web.listen``. Kept free
of aiohttp so loading a config stays cheap. The alternative, a reverse proxy terminating
TLS in front of a loopback-only agent, is in docs/http-api.md.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agent.config import Config, WebConfig


def server_context(w: WebConfig) -> ssl.SSLContext | None:
    """The server's TLS context, or None when TLS is off; raises ssl.SSLError / OSError."""
    if not w.tls_cert_file:
        return None
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(w.tls_cert_file, w.tls_key_file)
    return ctx


def client_context(w: WebConfig) -> ssl.SSLContext:
    """For this box's own CLI calling its agent: the configured certificate is the trust
    anchor (pinned), so a self-signed one works; the name is not checked (the CLI may say
    127.0.0.1 while the certificate names the room's host name)."""
    ctx = ssl.create_default_context(cafile=w.tls_cert_file)
    ctx.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN  # trust the leaf itself
    ctx.check_hostname = False
    return ctx


def check_config(cfg: Config) -> list[str]:
    w = cfg.web
    if not w.tls_cert_file and not w.tls_key_file:
        return []
    if bool(w.tls_cert_file) != bool(w.tls_key_file):
        return ["web.tls_cert_file: tls_cert_file and tls_key_file must be given together"]
    problems = [f"web.{key}: file not found: {value}"
                for key, value in (("tls_cert_file", w.tls_cert_file),
                                   ("tls_key_file", w.tls_key_file))
                if not Path(value or "").is_file()]
    if problems:
        return problems
    try:
        server_context(w)
    except (ssl.SSLError, OSError) as e:
        return [f"web.tls_cert_file: cannot use the certificate and key: {e}"]
    return []
