"""The demo's engagement clip (issue 14 item 2): its faces come from what `scripts/demo`
installs, a clip without faces is never cached, and the cache key names the inputs.

On a fresh machine the demo used to make a clip of an empty room (the face images came
from a package only the test set-up installed), show "0 people" and keep that clip in
the user's cache for good.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import av
import pytest

from agent.engagement import synth
from agent.engagement.demo import FACE_IMAGES_PACKAGE, DemoClipError, demo_clip
from agent.engagement.pipeline import Analyzer, AnalyzerSettings

ROOT = Path(__file__).resolve().parents[2]
needs_faces = pytest.mark.skipif(not synth.opencv_doc_images(),
                                 reason="Debian opencv-doc not installed")


def demo_packages() -> list[str]:
    """The Debian packages scripts/setup.sh installs without --tests."""
    text = (ROOT / "scripts/setup.sh").read_text()
    m = re.search(r"^debs=\(([^)]*)\)", text, re.M)
    assert m, "scripts/setup.sh has no debs=(...) list"
    return m.group(1).split()


def test_the_demo_install_brings_the_demo_face_images():
    assert FACE_IMAGES_PACKAGE in demo_packages(), (
        f"the demo's faces come from {FACE_IMAGES_PACKAGE}, which scripts/setup.sh "
        "does not install for the demo")


@needs_faces
@pytest.mark.skipif(shutil.which("dpkg-query") is None, reason="not a Debian system")
def test_every_demo_face_image_belongs_to_that_package():
    for path in synth.opencv_doc_images():
        owner = subprocess.run(["dpkg-query", "-S", str(path)], capture_output=True,
                               text=True, check=True).stdout.split(":")[0]
        assert owner == FACE_IMAGES_PACKAGE, (path, owner)


def test_no_face_images_no_clip_and_nothing_cached(tmp_path: Path):
    with pytest.raises(DemoClipError, match="no face images"):
        demo_clip(tmp_path, 320, 180, seconds=0.5, fps=2, students=4, face_images=[])
    assert list(tmp_path.iterdir()) == []


@needs_faces
def test_images_without_faces_give_no_cached_clip(tmp_path: Path):
    no_faces = [synth.OPENCV_DOC / "examples/data" / n for n in ("fruits.jpg", "building.jpg")]
    with pytest.raises(DemoClipError):
        demo_clip(tmp_path, 320, 180, seconds=0.5, fps=2, students=4, face_images=no_faces)
    assert list(tmp_path.iterdir()) == []


@needs_faces
def test_clip_shows_people_and_its_name_names_its_inputs(tmp_path: Path):
    stale = tmp_path / "engagement-demo-v1-1280x720-16.mp4"  # an old, unkeyed clip
    stale.write_bytes(b"an empty room")
    clip = demo_clip(tmp_path, 1280, 720, seconds=1.0, fps=4, students=16)
    assert not stale.exists()
    an = Analyzer(AnalyzerSettings(max_pose_faces=0, hand_raise=False))
    with av.open(str(clip)) as c:
        results = [an.analyze(f.to_ndarray(format="bgr24"), now=float(f.time))
                   for f in c.decode(video=0)]
    # the class faces the front, then some bow: the count holds, the rate falls
    first, last = results[0], results[-1]
    assert 14 <= first.people <= 16 and first.head_up_rate is not None
    assert 14 <= last.people <= 17 and last.head_up_rate < first.head_up_rate - 0.1
    assert demo_clip(tmp_path, 1280, 720, seconds=1.0, fps=4, students=16) == clip  # cached
    # other face images: another clip, never the cached one
    one = demo_clip(tmp_path, 1280, 720, seconds=1.0, fps=4, students=16,
                    face_images=synth.opencv_doc_images()[:1])
    assert one != clip and one.is_file()
    assert sorted(tmp_path.iterdir()) == [one]  # no partial file; the older key dropped
