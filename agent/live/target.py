"""Where a live lesson goes: the configured URL, what to show of it, and how to reach it.

The URL carries the stream key (the last path part for RTMP, ``streamid``/``passphrase``
for SRT). Only ``host`` and ``shown`` ever leave this module for status, events and logs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

Protocol = Literal["rtmp", "rtmps", "srt"]
PROTOCOLS = ("rtmp", "rtmps", "srt")


class TargetError(ValueError):
    pass


@dataclass(frozen=True)
class Target:
    url: str  # the full URL, stream key included: never shown
    protocol: Protocol
    host: str  # host[:port], what status pages and summaries show

    @property
    def shown(self) -> str:
        return f"{self.protocol}://{self.host}/…"

    def scrub(self, text: str) -> str:
        """``text`` without the URL or its key (FFmpeg quotes the URL in errors)."""
        out = text.replace(self.url, self.shown)
        key = key_of(self.url)
        return out.replace(key, "…") if key else out


def key_of(url: str) -> str:
    u = urlsplit(url)
    if u.scheme == "srt":
        return u.query
    parts = [p for p in u.path.split("/") if p]
    return "/".join(parts[1:]) if len(parts) > 1 else ""


def parse(url: str) -> Target:
    u = urlsplit(url.strip())
    scheme = u.scheme.lower()
    if scheme not in PROTOCOLS:
        raise TargetError(f"scheme must be rtmp://, rtmps:// or srt://, got {scheme or 'none'!r}")
    try:
        port = u.port
    except ValueError:
        raise TargetError("bad port") from None
    if not u.hostname:
        raise TargetError("no host")
    if scheme != "srt" and len([p for p in u.path.split("/") if p]) < 2:
        raise TargetError("expected rtmp://host[:port]/app/streamkey")
    if scheme == "srt" and not port:
        raise TargetError("srt:// needs a port")
    host = u.hostname + (f":{port}" if port else "")
    return Target(url=url.strip(), protocol=scheme, host=host)  # type: ignore[arg-type]


def resolve(url: str | None, url_file: str | None) -> Target | None:
    """The configured target (``url_file`` wins), None when live is not configured."""
    if url_file:
        try:
            text = Path(url_file).read_text().strip()
        except OSError as e:
            raise TargetError(f"cannot read url_file: {e.strerror or e}") from None
        return parse(text)
    return parse(url) if url else None
