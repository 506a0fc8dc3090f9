"""Model registry: checksums verified at load, clear errors for missing/corrupt files."""

from __future__ import annotations

from pathlib import Path

import pytest

from models import registry
from models.registry import ModelError, open_session, resolve, sha256_file


@pytest.mark.parametrize("name", list(registry.MODELS))
def test_default_models_match_their_checksums(name):
    spec = registry.MODELS[name]
    assert sha256_file(spec.default_path) == spec.sha256
    sess = open_session(name)
    assert sess.get_inputs()[0].name == spec.input_name
    assert [o.name for o in sess.get_outputs()] == list(spec.outputs)


def test_models_are_documented():
    text = (registry.MODELS_DIR / "MODELS.md").read_text()
    for spec in registry.MODELS.values():
        assert spec.sha256 in text and spec.filename in text


def test_corrupt_default_is_refused(tmp_path: Path, monkeypatch):
    bad = tmp_path / registry.MODELS["face_detector"].filename
    bad.write_bytes(b"\x00" * 100)
    monkeypatch.setattr(registry, "MODELS_DIR", tmp_path)
    monkeypatch.setitem(registry.MODELS, "face_detector", registry.ModelSpec(
        **{**registry.MODELS["face_detector"].__dict__}))
    # default_path reads MODELS_DIR at call time
    with pytest.raises(ModelError, match="corrupt"):
        resolve("face_detector")


def test_missing_default_and_override(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(registry, "MODELS_DIR", tmp_path)
    with pytest.raises(ModelError, match="default file missing"):
        resolve("pose")
    with pytest.raises(ModelError, match="file not found"):
        resolve("pose", tmp_path / "nope.onnx")


def test_override_that_is_not_a_model(tmp_path: Path):
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"junk")
    with pytest.raises(ModelError, match="cannot be loaded"):
        open_session("face_landmarks", junk)


def test_override_with_wrong_contract():
    other = registry.MODELS["pose"].default_path
    with pytest.raises(ModelError, match="inputs"):
        open_session("face_detector", other)


def test_config_rejects_missing_model_file(make_config, tmp_path: Path):
    from agent.config import ConfigError

    with pytest.raises(ConfigError, match=r"engagement\.pose_model: file not found"):
        make_config(engagement={"pose_model": str(tmp_path / "x.onnx")})
