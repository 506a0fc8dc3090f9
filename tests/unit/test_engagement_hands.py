"""Top-down hand raise (issue 15): crop geometry, keypoint mapping, the raised rule, the
tracker, and the real model on a person from a package image with an arm turned up."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from agent.engagement import synth
from agent.engagement.hands import (
    HandRaiseTracker,
    TopDownPose,
    crop_matrix,
    crop_squares,
    crop_to_frame,
    raised_top_down,
)
from agent.engagement.pipeline import Analyzer, AnalyzerSettings
from models.registry import open_session

BASKETBALL = synth.OPENCV_DOC / "examples/data/basketball1.png"
needs_image = pytest.mark.skipif(not BASKETBALL.is_file(), reason="Debian opencv-doc not installed")


def test_crop_square_geometry():
    # face centre (100, 100), side 20: 2.5 sizes above the top, 6 below the bottom
    x0, y0, side = crop_squares(np.array([[100, 100, 20]]), above=2.5, below=6.0,
                                sideways=1.6)[0]
    assert side == pytest.approx(20 * (2.5 + 1 + 6))
    assert y0 == pytest.approx(100 - 10 - 50)
    assert x0 + side / 2 == pytest.approx(100)  # the head is centred horizontally
    # a wide sideways reach makes the square wider than tall
    _x0, _y0, side = crop_squares(np.array([[0, 0, 10]]), above=1, below=1, sideways=5)[0]
    assert side == pytest.approx(110)


@pytest.mark.parametrize("square", [(40.0, 30.0, 190.0), (-50.0, -20.0, 120.0),
                                    (300.0, 200.0, 64.0)])
def test_keypoints_map_back_to_the_frame(square):
    x0, y0, side = square
    frame = np.zeros((480, 640, 3), np.uint8)
    point = (x0 + 0.6 * side, y0 + 0.7 * side)
    cv2.circle(frame, (round(point[0]), round(point[1])), 2, (255, 255, 255), -1)
    crop = cv2.warpAffine(frame, crop_matrix(x0, y0, side, 192), (192, 192))
    ys, xs = np.nonzero(crop[:, :, 0] > 100)
    model_out = np.array([[ys.mean() / 192, xs.mean() / 192, 0.9]], np.float32)  # y, x, score
    back = crop_to_frame(model_out, x0, y0, side)[0]
    tolerance = max(1.5, side / 192 * 1.5)
    assert back[0] == pytest.approx(point[0], abs=tolerance)
    assert back[1] == pytest.approx(point[1], abs=tolerance)
    assert back[2] == pytest.approx(0.9)


def skeleton(wrist: tuple[float, float], elbow: tuple[float, float] = (85.0, 140.0),
             score: float = 0.9) -> np.ndarray:
    """A person with the face at (100, 100), size 20: shoulders at y 125, right arm
    (COCO 6/8/10) set by the arguments, left arm down."""
    kp = np.zeros((17, 3), np.float32)
    kp[:, 2] = score
    kp[0] = (100, 102, score)  # nose
    kp[5], kp[6] = (115, 125, score), (85, 125, score)
    kp[7], kp[9] = (118, 150, score), (119, 175, score)
    kp[8, :2], kp[10, :2] = elbow, wrist
    return kp


HEAD = np.array([[100, 100, 20]], np.float32)


@pytest.mark.parametrize("wrist,elbow,expected", [
    ((80, 60), (78, 100), True),  # hand straight up, above the head
    ((70, 105), (70, 130), True),  # bent arm: wrist above the shoulder, forearm up
    ((70, 115), (60, 100), False),  # wrist above the shoulder but the elbow higher: waving?
    ((84, 175), (85, 150), False),  # arm down
    ((20, 60), (60, 100), False),  # a wrist up 4 face sizes away: a neighbour's
    ((80, 20), (80, 60), False),  # 5.25 face sizes above the shoulder: no arm is so long
    ((95, 90), (70, 110), False),  # a hand on the face (at the chin, on the cheek)
    ((88, 88), (75, 100), False),  # a hand on the head, below the hair line
    ((70, 112), (55, 128), True),  # beside the head, clear of the face
])
def test_raised_rule(wrist, elbow, expected):
    assert raised_top_down(skeleton(wrist, elbow)[None], HEAD).tolist() == [expected]


def test_raised_rule_needs_scores():
    kp = skeleton((80, 60), (78, 100))
    kp[10, 2] = 0.05  # the raised wrist barely seen
    assert raised_top_down(kp[None], HEAD, min_kp_score=0.15).tolist() == [False]
    # no shoulder seen on that side: whose arm is it?
    kp = skeleton((80, 60), (78, 100))
    kp[6, 2] = 0.0
    assert raised_top_down(kp[None], HEAD).tolist() == [False]
    # a shoulder above the face, or a clear nose elsewhere: a neighbour's skeleton
    kp = skeleton((70, 105), (70, 130))
    kp[6, 1] = 90
    assert raised_top_down(kp[None], HEAD).tolist() == [False]
    kp = skeleton((80, 60), (78, 100))
    kp[0] = (150, 140, 0.8)
    assert raised_top_down(kp[None], HEAD).tolist() == [False]
    # shoulders 3 face sizes below the face centre: the student in the row in front
    kp = skeleton((70, 150), (70, 175))
    kp[5:7, 1] = 160
    assert raised_top_down(kp[None], HEAD).tolist() == [False]


def test_tracker_matches_points_by_position():
    tr = HandRaiseTracker(hold=2)
    a = np.array([[100, 100, 20], [300, 100, 20]], np.float32)
    assert tr.update_points(a) == 0
    step = np.array([1, 1, 0], np.float32)
    assert tr.update_points(a + 5 * step) == 2  # moved less than the reach: same people
    assert tr.update_points(a[:1] + 40 * step) == 0  # moved further: a new track
    assert tr.update_points(np.zeros((0, 3), np.float32)) == 0


@pytest.fixture(scope="module")
def analyzer() -> Analyzer:
    return Analyzer(AnalyzerSettings(max_pose_faces=0, hold_frames=1))


def test_top_down_is_the_default_and_loads_no_multipose(analyzer):
    assert analyzer.hand_pose is not None and analyzer.bodies is None
    with pytest.raises(ValueError, match="hand_method"):
        Analyzer(AnalyzerSettings(hand_method="guess"))


@needs_image
def test_a_raised_arm_is_found_and_the_original_is_not(analyzer):
    """The player on the left of basketball1.png: the original has no raised hand; with
    his left arm turned up about the shoulder, 30 degrees outward (synth.raise_arm), the
    pipeline sees one. (Turned straight up, 0-15 degrees, this man's pasted arm is missed:
    the seated test split, built from him, shows the same, docs/ENGAGEMENT.md.)"""
    bgr = cv2.imread(str(BASKETBALL))
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    faces = analyzer.faces.detect(bgr)
    b = faces.boxes[np.argmin(faces.boxes[:, 0])]
    head = np.array([[(b[0] + b[2]) / 2, (b[1] + b[3]) / 2, max(b[2] - b[0], b[3] - b[1])]])
    kp = TopDownPose(open_session("hand_pose")).estimate(rgb, crop_squares(head))[0]
    # the model sees his shoulders where they are: below the face, about 2 faces apart
    assert kp[5:7, 2].min() > 0.4 and (kp[5:7, 1] > head[0, 1]).all()
    assert 1.0 < abs(kp[5, 0] - kp[6, 0]) / head[0, 2] < 4.0
    raised = synth.raise_arm(rgb, kp, "left", outward_deg=30.0)
    assert raised is not None
    analyzer.reset()
    r0 = analyzer.analyze(bgr, now=0.0)
    assert r0.hands_up == 0 and r0.hands_raised == 0
    analyzer.reset()
    r1 = analyzer.analyze(cv2.cvtColor(raised, cv2.COLOR_RGB2BGR), now=0.0)
    assert r1.hands_up == 1 and r1.hands_raised == 1


@needs_image
def test_tiles_method_still_runs():
    an = Analyzer(AnalyzerSettings(max_pose_faces=0, hand_method="tiles"))
    assert an.hand_pose is None and an.bodies is not None
    r = an.analyze(cv2.imread(str(BASKETBALL)), now=0.0)
    assert r.bodies is not None and r.bodies >= 1 and r.hands_up == 0


@pytest.mark.parametrize("key,value", [("hand_crop_above", 7.0), ("hand_crop_below", -1.0),
                                       ("hand_crop_sideways", 9.0), ("hand_kp_score", 1.5)])
def test_config_ranges(make_config, key, value):
    from agent.config import ConfigError

    with pytest.raises(ConfigError, match=rf"engagement\.{key}: must be between"):
        make_config(engagement={key: value})


def test_config_method_and_settings(make_config):
    from agent.config import ConfigError
    from agent.engagement.service import settings_from_config

    cfg = make_config(engagement={"hand_method": "tiles", "hand_crop_above": 3.0})
    s = settings_from_config(cfg.engagement)
    assert s.hand_method == "tiles" and s.hand_crop_above == 3.0
    with pytest.raises(ConfigError):
        make_config(engagement={"hand_method": "guess"})


def test_a_body_at_a_remembered_place_keeps_it():
    """Top-down keypoints at a place nobody's face is seen at (a bowed head) renew the
    place, as the multipose model's bodies did; a crop without a body does not."""
    from agent.engagement.people import Check, SeatMap, confirm_body

    seats = SeatMap(memory_s=120.0)
    seats.fuse(0.0, np.array([[90, 90, 110, 110]], np.float32), [Check.VERIFIED], [True])
    later = seats.fuse(100.0, np.zeros((0, 4), np.float32), [], [])
    (person,) = later.people
    assert person.source == "remembered" and person.seat is not None
    kp = skeleton((84, 175))
    kp[1:5] = (96, 96, 0.9), (104, 96, 0.9), (92, 100, 0.9), (108, 100, 0.9)  # eyes, ears
    kp[0, 1] = 106  # bowed: the head a little lower than the face was
    nothing = kp.copy()
    nothing[:, 2] = 0.1
    assert not confirm_body(person, nothing, 100.0)
    assert person.seat.seen == 0.0
    assert confirm_body(person, kp, 100.0)
    assert person.seat.seen == 100.0
    # a body far from the place is someone else's
    moved = kp.copy()
    moved[:, 0] += 60
    assert not confirm_body(person, moved, 110.0)


@needs_image
def test_analyze_cli_reports_top_down_hands(capsys):
    import json

    from agent.cli import main

    assert main(["analyze", str(BASKETBALL), "--details"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["hands_up"] == 0 and doc["hands_raised"] == 0
    crops = doc["details"]["bodies"]
    assert len(crops) == doc["people"] >= 1
    assert all(len(c["box"]) == 4 and len(c["head"]) == 3 and c["hand_up"] is False
               for c in crops)
