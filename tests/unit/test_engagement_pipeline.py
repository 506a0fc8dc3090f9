"""Engagement pieces with the real ONNX models on small generated images."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from agent.engagement import synth
from agent.engagement.faces import FaceDetector, nms
from agent.engagement.hands import HandRaiseTracker, People, raised_hands
from agent.engagement.headpose import HeadPoseEstimator, is_head_up, solve_pose
from agent.engagement.pipeline import Analyzer, AnalyzerSettings
from models.registry import open_session

MESSI = synth.OPENCV_DOC / "examples/data/messi5.jpg"
needs_faces = pytest.mark.skipif(not MESSI.is_file(), reason="Debian opencv-doc not installed")


@pytest.fixture(scope="module")
def detector() -> FaceDetector:
    return FaceDetector(open_session("face_detector"), score_threshold=0.4)


@pytest.fixture(scope="module")
def bank(detector):
    return synth.face_bank(detector, images=synth.opencv_doc_images(), lfw=False)


@pytest.fixture(scope="module")
def analyzer() -> Analyzer:
    return Analyzer(AnalyzerSettings(max_pose_faces=0, hold_frames=1, detect_width=0))


def test_nms_keeps_best_of_overlaps():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], np.float32)
    keep = nms(boxes, np.array([0.5, 0.9, 0.7], np.float32), 0.4)
    assert sorted(keep.tolist()) == [1, 2]


def test_blank_frame_has_no_faces(analyzer):
    r = analyzer.analyze(np.full((240, 320, 3), 128, np.uint8))
    assert r.faces == 0 and r.head_up_rate is None and r.people == 0


@needs_faces
def test_detects_real_face_with_landmarks(detector):
    faces = detector.detect(cv2.imread(str(MESSI)))
    assert len(faces) == 1
    x1, y1, x2, _y2 = faces.boxes[0]
    assert 20 < x2 - x1 < 50 and 220 < x1 < 240 and 85 < y1 < 105
    eyes = faces.landmarks[0, :2]
    assert eyes[0, 0] < eyes[1, 0]  # image-left eye first


@needs_faces
@pytest.mark.parametrize("n", [12, 20])
def test_counts_composited_faces(detector, bank, n):
    scene = synth.compose(bank, n, (30, 48), np.random.default_rng(n), width=640, height=360)
    assert len(detector.detect(scene.image)) == n


@needs_faces
def test_tiling_finds_the_same_faces(detector, bank):
    scene = synth.compose(bank, 10, (30, 40), np.random.default_rng(3), width=640, height=360)
    tiled = FaceDetector(open_session("face_detector"), score_threshold=0.4, tile=256,
                         overlap=80)
    whole = len(detector.detect(scene.image))
    assert whole >= 8
    assert abs(len(tiled.detect(scene.image)) - whole) <= 1  # seams neither lose nor double


def test_solve_pose_frontal_and_bowed():
    # the model face itself, projected frontal and bowed by 40 degrees, 192 px crop
    from agent.engagement import headpose

    def project(pitch_deg):
        a = math.radians(-pitch_deg)
        r = np.array([[1, 0, 0], [0, math.cos(a), -math.sin(a)], [0, math.sin(a), math.cos(a)]])
        p = headpose._MODEL @ r.T + [0, 0, 600]
        f = 2000.0
        return p[:, :2] / p[:, 2:] * f + 96, f

    pts, f = project(0)
    yaw, pitch = solve_pose(pts, f)
    assert abs(yaw) < 2 and abs(pitch) < 2
    pts, f = project(-40)
    yaw, pitch = solve_pose(pts, f)
    assert abs(pitch + 40) < 3


@needs_faces
def test_head_pose_separates_rendered_pitch(detector, bank):
    lm = open_session("face_landmarks")
    renderer = synth.PoseRenderer(lm)
    est = HeadPoseEstimator(lm)
    crop = bank[0].image
    results = {}
    for pitch in (5, -45):
        img = np.full((300, 300, 3), 170, np.uint8)
        synth.paste(img, renderer(crop, pitch, 0), 150, 150, 150)
        faces = detector.detect(img)
        assert len(faces) >= 1
        best = slice(0, 1)  # detections come best first
        rgb = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
        results[pitch] = est.estimate(rgb, faces.boxes[best], faces.landmarks[best])[0]
    assert is_head_up(results[5], -20, 60)
    assert not is_head_up(results[-45], -20, 60)


@needs_faces
def test_head_pose_in_crop_groups_equals_one_by_one(detector, bank):
    # estimate() makes its crops a few at a time (memory); every face keeps its own pose
    from agent.engagement.headpose import CROP_GROUP

    scene = synth.compose(bank, CROP_GROUP + 4, (30, 48), np.random.default_rng(5),
                          width=640, height=360)
    faces = detector.detect(scene.image)
    assert len(faces) > CROP_GROUP
    rgb = cv2.cvtColor(scene.image, cv2.COLOR_BGR2RGB)
    est = HeadPoseEstimator(open_session("face_landmarks"))
    together = est.estimate(rgb, faces.boxes, faces.landmarks)
    alone = [est.estimate(rgb, faces.boxes[i:i + 1], faces.landmarks[i:i + 1])[0]
             for i in range(len(faces))]
    assert together == alone


def test_release_free_heap_runs():
    from agent.engagement.heap import release_free_heap

    junk = [bytearray(1 << 20) for _ in range(8)]
    del junk
    assert release_free_heap() in (True, False)  # False only without glibc malloc_trim


def test_raised_hand_rule_and_hold():
    kp = np.zeros((2, 17, 3), np.float32)
    kp[:, :, 2] = 0.9
    for i, wrist_y in enumerate((50.0, 150.0)):  # person 0: wrist above shoulder
        kp[i, 5:7, 1] = 100  # shoulders
        kp[i, 5, 0], kp[i, 6, 0] = 100 + 200 * i, 140 + 200 * i
        kp[i, 7:9, 1] = 80 if i == 0 else 130  # elbows
        kp[i, 9:11, 1] = wrist_y
    people = People(kp, np.zeros((2, 4), np.float32), np.ones(2, np.float32))
    raised = raised_hands(people)
    assert raised.tolist() == [True, False]
    tracker = HandRaiseTracker(hold=3)
    assert [tracker.update(people, raised) for _ in range(4)] == [0, 0, 1, 1]
    assert tracker.update(people, np.zeros(2, bool)) == 0


@needs_faces
def test_analyze_cli_on_image_and_bad_files(tmp_path: Path, capsys):
    import json

    from agent.cli import main

    assert main(["analyze", str(MESSI), "--no-hands"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["faces"] == 1 and doc["head_up"] == 1 and doc["hands_raised"] is None
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    assert main(["analyze", str(bad)]) == 2
    assert "not a readable image" in capsys.readouterr().err
    assert main(["analyze", str(tmp_path / "missing.mp4")]) == 2
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    assert main(["analyze", str(text)]) == 2
    assert "not a readable image or video" in capsys.readouterr().err
