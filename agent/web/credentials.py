"""Web credentials without HTTP: password hashes and the listen/credential config rules.

Kept free of aiohttp so loading a config (every CLI command) stays cheap.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agent.config import Config, WebConfig

HASH_SCHEME = "pbkdf2_sha256"
DEFAULT_ITERATIONS = 200_000
_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


# --------------------------------------------------------------------------- passwords


def hash_password(password: str, iterations: int = DEFAULT_ITERATIONS) -> str:
    """``pbkdf2_sha256$iterations$salt_hex$hash_hex`` (the format web.password_hash takes)."""
    salt = os.urandom(16)
    dk = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    return f"{HASH_SCHEME}${iterations}${salt.hex()}${dk.hex()}"


def parse_hash(encoded: str) -> tuple[int, bytes, bytes]:
    """Split a stored hash; raises ValueError with what is wrong."""
    parts = encoded.split("$")
    if len(parts) != 4 or parts[0] != HASH_SCHEME:
        raise ValueError(f"expected {HASH_SCHEME}$ITERATIONS$SALT_HEX$HASH_HEX")
    if not re.fullmatch(r"[0-9]{1,8}", parts[1]) or not 1000 <= int(parts[1]) <= 10_000_000:
        raise ValueError("iterations must be a number between 1000 and 10000000")
    try:
        salt, dk = bytes.fromhex(parts[2]), bytes.fromhex(parts[3])
    except ValueError:
        raise ValueError("salt and hash must be hex") from None
    if len(salt) < 8 or len(dk) < 16:
        raise ValueError("salt or hash too short")
    return int(parts[1]), salt, dk


def verify_password(password: str, encoded: str) -> bool:
    try:
        iterations, salt, dk = parse_hash(encoded)
    except ValueError:
        return False
    got = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations, dklen=len(dk))
    return hmac.compare_digest(got, dk)


# --------------------------------------------------------------------------- config rules


def is_loopback_host(host: str) -> bool:
    host = host.strip("[]").lower()
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def has_credentials(web_cfg: WebConfig) -> bool:
    return bool(web_cfg.token or web_cfg.token_file or (web_cfg.username and web_cfg.password_hash))


def listen_problems(cfg: Config) -> list[str]:
    """Config semantic check: credentials well-formed, and present when off loopback."""
    w = cfg.web
    problems: list[str] = []
    if w.password_hash:
        try:
            parse_hash(w.password_hash)
        except ValueError as e:
            problems.append(
                f"web.password_hash: {e} (make one with `classroom-agent hash-password`)"
            )
    if bool(w.username) != bool(w.password_hash):
        problems.append("web.username: username and password_hash must be given together")
    if w.token is not None and len(w.token) < 16:
        problems.append("web.token: must be at least 16 characters")
    from agent.config import parse_listen

    try:
        host, _port = parse_listen(w.listen)
    except ValueError:
        return problems  # reported by the foundation's own check
    if not has_credentials(w):
        if not is_loopback_host(host):
            problems.append(
                f"web.listen: {w.listen} is reachable from the network but no credentials are "
                "set; set web.token (or web.token_file), or web.username + web.password_hash "
                "(`classroom-agent hash-password`), or listen on 127.0.0.1"
            )
        elif not w.trust_loopback:
            problems.append(
                "web.trust_loopback: false needs web.token or web.username + "
                "web.password_hash, or nobody could use the web server"
            )
    return problems
