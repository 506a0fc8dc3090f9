"""The collector's config: key-path errors, ranges, and every key documented."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from district.config import ConfigError, DistrictConfig, from_dict, load

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "district.example.toml"


@pytest.mark.parametrize(("data", "problem"), [
    ({"mqtt": {"share_group": 3}}, 'mqtt.share_group: expected str, got 3'),
    ({"mqtt": {"bogus": 1}}, "mqtt.bogus: unknown key"),
    ({"terms": [{"name": "t", "start": "2026-09-01", "end": "nope"}]}, "terms[0].end"),
    ({"terms": [{"name": "t", "start": "2026-09-02", "end": "2026-09-01"}]},
     "terms[0].end: before start"),
    ({"terms": [{"name": "t", "start": "2026-09-01", "end": "2026-09-02",
                 "holidays": ["x"]}]}, "terms[0].holidays"),
    ({"targets": {"required_subjects": 0}}, "targets.required_subjects: must be at least 1"),
    ({"mqtt": {"url": "http://x"}}, "mqtt.url"),
    ({"mqtt": {"receive_maximum": 0}}, "mqtt.receive_maximum"),
    ({"storage": {"url": "mysql://x"}}, "storage.url"),
    ({"schools": [{"id": "a/b"}]}, "schools[0].id"),
    ({"district": {"timezone": "Mars/Base"}}, "district.timezone"),
])
def test_problems_name_the_key_path(data, problem) -> None:
    with pytest.raises(ConfigError) as e:
        from_dict({"web": {"listen": ""}, **data})
    assert any(p.startswith(problem) for p in e.value.problems), e.value.problems


def test_the_example_loads_and_documents_every_key() -> None:
    cfg = load(EXAMPLE)
    assert cfg.term("2026 autumn").holiday_dates()
    text = EXAMPLE.read_text()
    documented = set(re.findall(r"^#?\s*([a-z_0-9]+)\s*=", text, re.M))
    data = tomllib.loads(text)
    for section in DistrictConfig.__struct_fields__:
        assert section in data, f"[{section}] missing from the example"
    for name, field_type in _sections():
        for key in field_type.__struct_fields__:
            assert key in documented, f"{name}.{key} is not in {EXAMPLE.name}"


def _sections():
    from district import config as c

    return [("district", c.DistrictSection), ("mqtt", c.MqttSection),
            ("storage", c.StorageSection), ("web", c.WebSection), ("terms", c.TermSection),
            ("targets", c.TargetsSection), ("schools", c.SchoolSection)]
