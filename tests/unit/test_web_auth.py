"""Web security: credentials in config, auth and CSRF middleware, refusal to start."""

from __future__ import annotations

import base64
from unittest import mock

import msgspec
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer, make_mocked_request
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.config import Config, ConfigError, from_dict
from agent.runtime.agent import make_context
from agent.web.app import build_app
from agent.web.auth import Authenticator, same_origin
from agent.web.credentials import (
    hash_password,
    is_loopback_host,
    listen_problems,
    parse_hash,
    verify_password,
)

TOKEN = "t0ken-for-tests-0123456789"


def cfg(**web_kw) -> Config:
    return from_dict({"web": {"listen": "127.0.0.1:8080", **web_kw}})


# --------------------------------------------------------------------------- credentials


def test_password_hash_roundtrip() -> None:
    h = hash_password("s3cret pass", iterations=1000)
    assert h.startswith("pbkdf2_sha256$1000$")
    assert verify_password("s3cret pass", h)
    assert not verify_password("s3cret pas", h)
    assert not verify_password("x", "garbage")


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=120))
def test_parse_hash_never_crashes(text: str) -> None:
    try:
        parse_hash(text)
    except ValueError:
        pass
    assert verify_password("x", text) in (True, False)


@pytest.mark.parametrize(
    ("host", "loop"),
    [("127.0.0.1", True), ("::1", True), ("[::1]", True), ("localhost", True),
     ("127.0.0.2", True), ("0.0.0.0", False), ("", False), ("192.168.1.5", False),
     ("::", False), ("room101.school.lan", False)],
)
def test_is_loopback(host: str, loop: bool) -> None:
    assert is_loopback_host(host) is loop


def test_off_loopback_without_credentials_is_a_config_error() -> None:
    for listen in ("0.0.0.0:8080", "192.168.1.20:80", "[::]:8080"):
        with pytest.raises(ConfigError) as e:
            from_dict({"web": {"listen": listen}})
        assert any(p.startswith("web.listen:") and "credentials" in p for p in e.value.problems)
    # with credentials it is accepted
    from_dict({"web": {"listen": "0.0.0.0:8080", "token": TOKEN}})
    from_dict({"web": {"listen": "0.0.0.0:8080", "username": "it",
                       "password_hash": hash_password("longenough", 1000)}})


def test_credential_mistakes_are_named() -> None:
    bad = msgspec.convert(
        {"web": {"listen": "127.0.0.1:1", "username": "it", "password_hash": "md5$x",
                 "token": "short"}}, Config)
    problems = listen_problems(bad)
    assert any(p.startswith("web.password_hash:") for p in problems)
    assert any(p.startswith("web.token:") for p in problems)
    only_user = msgspec.convert({"web": {"username": "it"}}, Config)
    assert any(p.startswith("web.username:") for p in listen_problems(only_user))
    no_trust = msgspec.convert({"web": {"trust_loopback": False}}, Config)
    assert any(p.startswith("web.trust_loopback:") for p in listen_problems(no_trust))


async def test_agent_refuses_to_start_open_port_even_when_config_skips_checks(
    run_agent, tmp_path
) -> None:
    from tests.conftest import free_port

    # configs built in code (demo, tests) skip the loader's checks; the web layer re-checks
    raw = msgspec.convert({"web": {"listen": f"0.0.0.0:{free_port()}"},
                           "storage": {"data_dir": str(tmp_path)}}, Config)
    with pytest.raises(ConfigError) as e:
        async with run_agent(raw):
            pass
    assert "web.listen" in str(e.value)


def test_cli_run_refuses_open_port(tmp_path) -> None:
    import subprocess
    import sys

    conf = tmp_path / "agent.toml"
    conf.write_text(f'[storage]\ndata_dir = "{tmp_path}"\n[web]\nlisten = "0.0.0.0:18089"\n')
    r = subprocess.run([sys.executable, "-m", "agent", "run", "-c", str(conf)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert "web.listen" in r.stderr and "no credentials" in r.stderr


# --------------------------------------------------------------------------- requests


def _req(headers: dict[str, str], remote: str, path: str = "/api/status", method: str = "GET"):
    transport = mock.Mock()
    transport.get_extra_info.side_effect = (
        lambda k, d=None: (remote, 5555) if k == "peername" else d
    )
    return make_mocked_request(method, path, headers=headers, transport=transport)


async def test_authenticator_decisions() -> None:
    c = cfg(token=TOKEN, username="it", password_hash=hash_password("pa55word!", 1000))
    auth = Authenticator(make_context(c))
    local = {"Host": "127.0.0.1:8080"}
    assert await auth.check(_req(local, "127.0.0.1")) is None  # kiosk / CLI on the box
    assert await auth.check(_req({"Host": "evil.example"}, "127.0.0.1")) == "bad_host"
    remote = {"Host": "10.0.0.5:8080"}
    assert await auth.check(_req(remote, "10.0.0.9")) == "missing_credentials"
    assert await auth.check(_req(remote, "10.0.0.9", path="/")) == "missing_credentials"
    assert await auth.check(_req(remote, "10.0.0.9", path="/healthz")) is None
    assert await auth.check(_req(remote, "10.0.0.9", path="/ws/tablet")) is None
    bearer = {**remote, "Authorization": f"Bearer {TOKEN}"}
    assert await auth.check(_req(bearer, "10.0.0.9")) is None
    wrong = {**remote, "Authorization": "Bearer nope"}
    assert await auth.check(_req(wrong, "10.0.0.9")) == "bad_credentials"
    good = base64.b64encode(b"it:pa55word!").decode()
    assert await auth.check(_req({**remote, "Authorization": f"Basic {good}"}, "10.0.0.9")) is None
    # second time from the verified cache
    assert await auth.check(_req({**remote, "Authorization": f"Basic {good}"}, "10.0.0.9")) is None
    bad = base64.b64encode(b"it:wrong").decode()
    assert await auth.check(
        _req({**remote, "Authorization": f"Basic {bad}"}, "10.0.0.9")) == "bad_credentials"
    assert await auth.check(
        _req({**remote, "Authorization": "Basic %%%"}, "10.0.0.9")) == "bad_credentials"


def test_same_origin() -> None:
    r = _req({"Host": "127.0.0.1:8080", "Origin": "http://127.0.0.1:8080"}, "127.0.0.1",
             method="POST")
    assert same_origin(r)
    r = _req({"Host": "127.0.0.1:8080", "Origin": "http://evil.example"}, "127.0.0.1",
             method="POST")
    assert not same_origin(r)
    r = _req({"Host": "127.0.0.1:8080", "Referer": "http://127.0.0.1:8080/panel"}, "127.0.0.1",
             method="POST")
    assert same_origin(r)
    r = _req({"Host": "127.0.0.1:8080", "Origin": "null"}, "127.0.0.1", method="POST")
    assert not same_origin(r)


async def _client(config: Config) -> TestClient:
    ctx = make_context(config)
    app = build_app(ctx)

    async def echo(request: web.Request) -> web.Response:
        return web.json_response({"ok": True, "got": len(await request.read())})

    app.router.add_post("/test/echo", echo)  # a state-changing route of our own
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    return client


async def test_token_required_when_loopback_not_trusted() -> None:
    client = await _client(cfg(token=TOKEN, trust_loopback=False))
    try:
        r = await client.get("/api/status")
        assert r.status == 401
        assert (await r.json())["error"]["code"] == "unauthorized"
        assert "Bearer" in r.headers["WWW-Authenticate"]
        r = await client.get("/", )
        assert r.status == 401  # pages too
        r = await client.get("/api/status", headers={"Authorization": "Bearer wrong"})
        assert r.status == 401
        r = await client.get("/api/status", headers={"Authorization": f"Bearer {TOKEN}"})
        assert r.status == 200
        assert (await r.json())["agent"]["school"] == "school"
        assert (await client.get("/healthz")).status == 200
        metrics = await (await client.get(
            "/metrics", headers={"Authorization": f"Bearer {TOKEN}"})).text()
        assert 'classroom_web_auth_failures_total{reason="missing_credentials"} 2.0' in metrics
    finally:
        await client.close()


async def test_basic_auth_prompts_browser() -> None:
    h = hash_password("pa55word!", 1000)
    client = await _client(cfg(username="it", password_hash=h, trust_loopback=False))
    try:
        r = await client.get("/")
        assert r.status == 401 and r.headers["WWW-Authenticate"].startswith("Basic ")
        good = base64.b64encode(b"it:pa55word!").decode()
        r = await client.get("/", headers={"Authorization": f"Basic {good}"})
        assert r.status == 200
    finally:
        await client.close()


async def test_csrf() -> None:
    client = await _client(cfg(token=TOKEN))
    try:
        # a cross-site form post: no custom header, foreign or no Origin
        r = await client.post("/test/echo", data=b"x")
        assert r.status == 403 and (await r.json())["error"]["code"] == "csrf"
        r = await client.post("/test/echo", data=b"x", headers={"Origin": "http://evil.example"})
        assert r.status == 403
        # what our pages, the CLI and API clients send
        r = await client.post("/test/echo", data=b"x",
                              headers={"X-Requested-With": "classroom-agent-cli"})
        assert r.status == 200
        origin = f"http://{client.host}:{client.port}"
        r = await client.post("/test/echo", data=b"x", headers={"Origin": origin})
        assert r.status == 200
        r = await client.post("/test/echo", data=b"x",
                              headers={"Authorization": f"Bearer {TOKEN}"})
        assert r.status == 200
    finally:
        await client.close()


async def test_dns_rebinding_host_refused() -> None:
    client = await _client(cfg())
    try:
        r = await client.get("/api/status", headers={"Host": "attacker.example"})
        assert r.status == 403 and (await r.json())["error"]["code"] == "bad_host"
        r = await client.get("/api/status", headers={"Host": "localhost:8080"})
        assert r.status == 200
    finally:
        await client.close()


async def test_request_size_limit() -> None:
    client = await _client(cfg(max_request_bytes=1024))
    try:
        hdr = {"X-Requested-With": "t"}
        assert (await client.post("/test/echo", data=b"x" * 1000, headers=hdr)).status == 200
        assert (await client.post("/test/echo", data=b"x" * 5000, headers=hdr)).status == 413
    finally:
        await client.close()
