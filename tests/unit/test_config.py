"""Config: defaults, the contract keys, and one clear line per problem naming the key."""

from pathlib import Path

import pytest

from agent.config import Config, ConfigError, from_dict, load

CONTRACT = """
[site]
school = "xh-001"
room = "r101"
timezone = "Asia/Shanghai"
[mqtt]
url = "mqtt://127.0.0.1:1883"
topic_prefix = "classroom"
[storage]
data_dir = "/var/lib/classroom-agent"
[web]
listen = "127.0.0.1:8080"
[health]
interval_s = 30
"""


def test_contract_keys_load(tmp_path: Path) -> None:
    p = tmp_path / "a.toml"
    p.write_text(CONTRACT)
    cfg = load(p)
    assert cfg.site.school == "xh-001" and cfg.site.timezone == "Asia/Shanghai"
    assert cfg.mqtt.url == "mqtt://127.0.0.1:1883"
    assert cfg.health.interval_s == 30


def test_defaults_everywhere() -> None:
    cfg = from_dict({})
    assert isinstance(cfg, Config)
    assert cfg.mqtt.url is None  # uplink off, data queued
    assert cfg.web.listen == "127.0.0.1:8080"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"mqtt": {"keepalive_s": "abc"}}, 'mqtt.keepalive_s: expected int, got "abc"'),
        ({"mqtt": {"colour": 1}}, "mqtt.colour: unknown key"),
        ({"bogus": {}}, "bogus: unknown key"),
        ({"health": {"interval_s": "x"}}, 'health.interval_s: expected float, got "x"'),
        ({"site": {"timezone": "Mars/Base"}}, "site.timezone: unknown time zone 'Mars/Base'"),
        ({"mqtt": {"url": "http://x"}}, "mqtt.url: scheme must be mqtt:// or mqtts://"),
        ({"web": {"listen": "nope"}}, "web.listen: expected HOST:PORT"),
        ({"site": {"room": "a/b"}}, "site.room: 'a/b' must be"),
        ({"mqtt": {"password_file": "/nonexistent/pw"}}, "mqtt.password_file: file not found"),
    ],
)
def test_errors_name_the_key(data: dict, message: str) -> None:
    with pytest.raises(ConfigError) as e:
        from_dict(data)
    assert any(p.startswith(message) for p in e.value.problems), e.value.problems


def test_toml_syntax_and_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[site\nschool=")
    with pytest.raises(ConfigError, match="TOML syntax error"):
        load(bad)
    with pytest.raises(ConfigError, match="cannot read"):
        load(tmp_path / "missing.toml")


def test_example_and_demo_configs_are_valid() -> None:
    root = Path(__file__).resolve().parents[2] / "config"
    for name in ("agent.example.toml", "demo.toml"):
        load(root / name)


def test_example_documents_every_key() -> None:
    """Every field of every section appears in agent.example.toml (commented or set)."""
    import msgspec

    text = (Path(__file__).resolve().parents[2] / "config" / "agent.example.toml").read_text()
    missing = []

    def walk(t: type, path: str) -> None:
        for f in msgspec.structs.fields(t):
            key = f.encode_name
            inner = f.type
            args = getattr(inner, "__args__", ()) or ()
            struct = next((a for a in (inner, *args) if isinstance(a, type)
                           and issubclass(a, msgspec.Struct)), None)
            if struct is not None:
                walk(struct, f"{path}{key}.")
            elif f"{key} =" not in text and f"{key}=" not in text:
                missing.append(path + key)

    walk(Config, "")
    assert not missing, f"not documented in config/agent.example.toml: {missing}"


def _key_paths() -> list[tuple[str, ...]]:
    import msgspec

    from agent.config import Config

    out: list[tuple[str, ...]] = []

    def walk(t: type, path: tuple[str, ...]) -> None:
        for f in msgspec.structs.fields(t):
            args = getattr(f.type, "__args__", ()) or ()
            struct = next((a for a in (f.type, *args) if isinstance(a, type)
                           and issubclass(a, msgspec.Struct)), None)
            out.append((*path, f.encode_name))
            if struct is not None:
                walk(struct, (*path, f.encode_name))

    walk(Config, ())
    return out


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**12) | st.floats(allow_nan=True)
    | st.text(max_size=30),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=3),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(_key_paths()), _values), max_size=6))
def test_fuzz_any_value_at_any_key_is_config_or_clear_error(pairs) -> None:
    data: dict = {}
    for path, value in pairs:
        cur = data
        for part in path[:-1]:
            nxt = cur.get(part)
            if not isinstance(nxt, dict):
                nxt = cur[part] = {}
            cur = nxt
        cur[path[-1]] = value
    try:
        from_dict(data)
    except ConfigError as e:
        assert e.problems and all(isinstance(p, str) and p for p in e.problems)
