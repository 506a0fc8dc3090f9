"""URLs (camera, broker, upload) without their passwords, for logs, status pages, events and
config problems. Plain ``urllib``: importing it costs nothing (no PyAV). Neutral: the core
config, the agent and every driver may import it."""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit, urlunsplit

# scheme://user:password@ anywhere in free text (quotes, spaces and "/" end the password;
# the last "@" before the host ends it, as in urlsplit)
_USERINFO = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^\s/:'\"]*):[^\s/'\"]*@")


def redact(url: str) -> str:
    """The URL without its password, fit for logs, status pages and events."""
    try:
        u = urlsplit(url)
        if u.password is None:
            return url
    except ValueError:  # malformed (bad IPv6 brackets ...): show no part of its userinfo
        head, at, tail = url.rpartition("@")
        return f"{head.partition('//')[0]}//***@{tail}" if at else url
    # the netloc as written (a bad port must not make redaction itself fail)
    userinfo, _, hostport = u.netloc.rpartition("@")
    user = userinfo.partition(":")[0]
    return urlunsplit((u.scheme, f"{user}:***@{hostport}", u.path, u.query, u.fragment))


def scrub(text: str, url: str) -> str:
    """``text`` (an FFmpeg/PyAV message, which repeats the URL it failed on) with the URL's
    password gone: the whole URL becomes its redacted form, and a user:password part that
    FFmpeg quoted differently (decoded, re-encoded) is masked as well."""
    if not url or not text:
        return text
    safe = redact(url)
    if safe == url:
        return text
    text = text.replace(url, safe)
    try:
        u = urlsplit(url)
    except ValueError:
        return text
    if u.password:
        userinfo = u.netloc.rpartition("@")[0]
        text = text.replace(userinfo + "@", f"{u.username}:***@")
        for pw in {u.password, unquote(u.password)}:
            if len(pw) >= 4:  # a shorter one would mask ordinary words
                text = text.replace(pw, "***")
    return text


def redact_text(text: str) -> str:
    """Every ``scheme://user:password@`` in ``text`` with its password masked: for messages
    that may quote a configured URL (config problems) without knowing which."""
    return _USERINFO.sub(r"\g<head>:***@", text)
