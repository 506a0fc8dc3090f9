"""The [[panels]] config: defaults, type errors with key paths, semantic checks."""

from __future__ import annotations

import pytest

from agent.config import ConfigError, from_dict
from agent.panel.service import spec_from_config
from drivers.panel import SerialTarget, TcpTarget


def test_defaults_and_spec() -> None:
    cfg = from_dict({"panels": [
        {"id": "front", "protocol": "smart", "serial": "/dev/ttyUSB0"},
        {"id": "proj", "protocol": "pjlink", "host": "10.0.0.5", "password": "x",
         "notify_port": 4352},
        {"id": "side", "protocol": "mdc", "host": "10.0.0.6", "display_id": 3},
    ]})
    a, b, c = (spec_from_config(p) for p in cfg.panels)
    assert a.target == SerialTarget("/dev/ttyUSB0", 19200)
    assert b.target == TcpTarget("10.0.0.5", 4352) and b.options.password == "x"
    assert b.notify == ("0.0.0.0", 4352)
    assert c.target == TcpTarget("10.0.0.6", 1515) and c.options.display_id == 3


def test_password_file(tmp_path) -> None:
    f = tmp_path / "pw"
    f.write_text("from-file\n")
    cfg = from_dict({"panels": [{"id": "p", "protocol": "pjlink", "host": "h",
                                 "password_file": str(f)}]})
    assert spec_from_config(cfg.panels[0]).options.password == "from-file"


@pytest.mark.parametrize(("entry", "problem"), [
    ({"id": "p", "protocol": "smart"}, "panels[0]: give exactly one of serial"),
    ({"id": "p", "protocol": "pjlink", "serial": "/dev/x"}, "panels[0].serial: pjlink runs"),
    ({"id": "p", "protocol": "smart", "host": "h"}, "panels[0].port: smart has no standard"),
    ({"id": "p", "protocol": "pjlink", "host": "h", "password_file": "/nope"},
     "panels[0].password_file: file not found"),
    ({"id": "p", "protocol": "mdc", "host": "h", "poll_s": 0}, "panels[0].poll_s: must be > 0"),
    ({"id": "p", "protocol": "mdc", "host": "h", "automation": {"lesson_input": "zz"}},
     "panels[0].automation.lesson_input: unknown input"),
    ({"id": "p", "protocol": "telnet", "host": "h"}, "panels[0].protocol: invalid enum value"),
    ({"id": "p", "protocol": "mdc", "host": "h", "poll_s": "fast"}, "panels[0].poll_s: expected"),
    ({"id": "p", "protocol": "mdc", "host": "h", "colour": 1}, "panels[0].colour: unknown key"),
])
def test_problems_name_the_key(entry: dict, problem: str) -> None:
    with pytest.raises(ConfigError) as e:
        from_dict({"panels": [entry]})
    assert any(p.startswith(problem) for p in e.value.problems), e.value.problems


def test_duplicate_ids() -> None:
    with pytest.raises(ConfigError) as e:
        from_dict({"panels": [{"id": "p", "protocol": "mdc", "host": "a"},
                              {"id": "p", "protocol": "mdc", "host": "b"}]})
    assert "panels[1].id: duplicate panel id 'p'" in e.value.problems


def test_renamed_lesson_input_is_accepted() -> None:
    from_dict({"panels": [{"id": "p", "protocol": "pjlink", "host": "h",
                           "input_names": {"DIGITAL1": "HDMI1"},
                           "automation": {"lesson_input": "HDMI1"}}]})
