"""People, not faces (issue 15): phantom detections give no people, bowed heads stay
people and pull the head-up rate down. Real models on package images."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from agent.engagement import synth
from agent.engagement.people import Check, SeatMap, body_heads
from agent.engagement.pipeline import Analyzer, AnalyzerSettings
from models.registry import open_session

DATA = synth.OPENCV_DOC / "examples/data"
needs_faces = pytest.mark.skipif(not synth.opencv_doc_images(),
                                 reason="Debian opencv-doc not installed")


@pytest.fixture(scope="module")
def analyzer() -> Analyzer:
    return Analyzer(AnalyzerSettings(max_pose_faces=0, hand_raise=False))


@pytest.fixture(scope="module")
def bank(analyzer):
    return synth.face_bank(analyzer.faces, images=synth.opencv_doc_images(), lfw=False)


def box(x: float, y: float, s: float = 40.0) -> list[float]:
    return [x - s / 2, y - s / 2, x + s / 2, y + s / 2]


def test_rejected_detection_is_a_phantom_unless_a_place_or_body_backs_it():
    seats = SeatMap(memory_s=60)
    f = seats.fuse(0.0, np.array([box(100, 100)], np.float32), [Check.REJECTED], [False])
    assert f.count == 0 and f.phantoms == 1 and seats.seats == []
    # a body whose head is there makes it a person (bowed: not up)
    f = seats.fuse(0.0, np.array([box(100, 100)], np.float32), [Check.REJECTED], [False],
                   heads=np.array([[100, 105, 40]], np.float32))
    assert f.count == 1 and f.up == 0 and f.phantoms == 0


def test_a_place_keeps_a_bowed_or_hidden_person_for_memory_s():
    seats = SeatMap(memory_s=60)
    boxes = np.array([box(100, 100), box(300, 100)], np.float32)
    f = seats.fuse(0.0, boxes, [Check.VERIFIED] * 2, [True, True])
    assert (f.count, f.up) == (2, 2)
    # one head bows: FaceMesh rejects it at its place; the other is not found at all
    f = seats.fuse(10.0, np.array([box(100, 115)], np.float32), [Check.REJECTED], [False])
    assert (f.count, f.up, f.phantoms) == (2, 0, 0)
    # both gone for longer than memory_s: nobody is left
    f = seats.fuse(200.0, np.zeros((0, 4), np.float32), [], [])
    assert f.count == 0 and seats.seats == []


def test_unchecked_face_counts_only_at_a_known_place():
    seats = SeatMap(memory_s=60)
    f = seats.fuse(0.0, np.array([box(100, 100)], np.float32), [Check.UNCHECKED], [None])
    assert f.count == 0  # waits for FaceMesh's verdict
    seats.fuse(1.0, np.array([box(100, 100)], np.float32), [Check.VERIFIED], [True])
    f = seats.fuse(2.0, np.array([box(102, 101)], np.float32), [Check.UNCHECKED], [None])
    assert (f.count, f.up) == (1, 1)  # last known state of that place


def test_body_heads_need_a_head_or_shoulders():
    kp = np.zeros((3, 17, 3), np.float32)
    kp[0, 0] = [100, 50, 0.9]  # nose + both eyes
    kp[0, 1] = [95, 45, 0.9]
    kp[0, 2] = [105, 45, 0.9]
    kp[1, 5] = [200, 120, 0.9]  # shoulders only
    kp[1, 6] = [260, 120, 0.9]
    kp[2, 9] = [300, 300, 0.9]  # a lone wrist: not a person
    heads = body_heads(kp)
    assert len(heads) == 2
    assert abs(heads[0, 0] - 100) < 1 and abs(heads[1, 0] - 230) < 1
    assert heads[1, 1] < 120  # the head sits above the shoulders


@needs_faces
@pytest.mark.parametrize("name", ["aloeR.jpg", "apple.jpg", "squirrel_cls.jpg",
                                  "orange.jpg", "HappyFish.jpg"])
def test_images_without_people_give_no_people(analyzer, name):
    """Each of these makes the face detector fire (the old head count was >= 1)."""
    img = cv2.imread(str(DATA / name))
    analyzer.reset()
    r = analyzer.analyze(img, hands=False, now=0.0)
    assert r.people == 0 and r.faces == 0 and r.head_up_rate is None
    assert r.phantoms >= 1  # the detector did fire: the second check removed it


@needs_faces
def test_people_on_an_image_without_people_with_bodies_too():
    an = Analyzer(AnalyzerSettings(max_pose_faces=0))
    img = cv2.imread(str(DATA / "aloeL.jpg"))
    r = an.analyze(img, hands=True, now=0.0)
    assert r.people == 0 and r.bodies is not None


@needs_faces
def test_rate_goes_down_and_count_holds_when_heads_bow(analyzer, bank):
    """The same 16 students, first all facing the front, then half bowed: the head
    count stays near 16 and the head-up rate falls (it rose with the old face count)."""
    renderer = synth.PoseRenderer(open_session("face_landmarks"))
    n = 16
    mask = np.arange(n) % 2 == 0
    up = synth.compose(bank, n, (36, 56), np.random.default_rng(11), 960, 540,
                       pose_renderer=renderer, down_mask=np.zeros(n, bool))
    half = synth.compose(bank, n, (36, 56), np.random.default_rng(11), 960, 540,
                         pose_renderer=renderer, down_mask=mask)
    analyzer.reset()
    before = [analyzer.analyze(up.image, hands=False, now=t) for t in (0.0, 1.0)][-1]
    after = analyzer.analyze(half.image, hands=False, now=20.0)
    assert n - 2 <= before.people <= n and before.head_up_rate >= 0.75
    assert n - 2 <= after.people <= n + 1
    assert after.head_up_rate < before.head_up_rate - 0.25
    assert after.head_up_rate <= 0.6


def test_nobody_is_counted_twice_after_a_jump_or_by_a_rough_body():
    seats = SeatMap(memory_s=60)
    seats.fuse(0.0, np.array([box(100, 100)], np.float32), [Check.VERIFIED], [True])
    # the same student, 0.75 face widths to the side in the next analysed frame: too far
    # for the place to follow, close enough to be the same person
    f = seats.fuse(1.0, np.array([box(130, 100)], np.float32), [Check.VERIFIED], [True])
    assert f.count == 1 and len(seats.seats) == 1
    # a body whose head estimate (from the shoulders) lands beside that face
    f = seats.fuse(2.0, np.array([box(130, 100)], np.float32), [Check.VERIFIED], [True],
                   heads=np.array([[150, 80, 40]], np.float32))
    assert f.count == 1
    # a neighbour two face widths away is another person, and stays one when unseen
    seats.fuse(3.0, np.array([box(130, 100), box(210, 100)], np.float32),
               [Check.VERIFIED] * 2, [True, True])
    f = seats.fuse(4.0, np.array([box(130, 100)], np.float32), [Check.VERIFIED], [True])
    assert (f.count, f.up) == (2, 1)
