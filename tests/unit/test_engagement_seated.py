"""The seated hand-raise set (agent/engagement/seated.py): deterministic, labels that
follow the rule, dev and test from disjoint sources."""

from __future__ import annotations

import numpy as np
import pytest

from agent.engagement import seated, synth

BASKETBALL = synth.OPENCV_DOC / "examples/data/basketball1.png"
pytestmark = pytest.mark.skipif(not BASKETBALL.is_file(),
                                reason="Debian opencv-doc not installed")


@pytest.fixture(scope="module")
def test_set() -> seated.SeatedSet:
    return seated.seated_scenes("test", n=2, seed=3)


def test_same_seed_same_scenes(test_set):
    again = seated.seated_scenes("test", n=2, seed=3)
    for a, b in zip(test_set.scenes, again.scenes, strict=True):
        assert np.array_equal(a.image, b.image)
        assert [p.raised for p in a.people] == [p.raised for p in b.people]
    other = seated.seated_scenes("test", n=1, seed=4)
    assert not np.array_equal(other.scenes[0].image, test_set.scenes[0].image)


def test_labels_follow_the_rule(test_set):
    people = test_set.people
    assert any(p.raised for p in people) and any(not p.raised for p in people)
    for p in people:
        assert (p.pose in seated.RAISED_POSES) == p.raised, p.pose
        if p.raised:
            # by construction: some wrist above its shoulder and its elbow
            up = [w[1] < s[1] and w[1] < e[1]
                  for s, e, w in zip(p.shoulders, p.elbows, p.wrists, strict=True)
                  if np.isfinite(w).all()]
            assert any(up)
        assert p.raised == bool(p.arm_raised.any())
        # shoulder_px (52, 116); size and width +-10 % each
        assert 40 <= p.shoulder_w <= 1.1 * 1.1 * 116 + 1
    # most raised hands show (the row in front sits lower); a few are covered
    raised = [p for p in people if p.raised]
    assert sum(p.hand_visible for p in raised) >= 0.7 * len(raised)
    h, w = test_set.scenes[0].image.shape[:2]
    assert (w, h) == (1280, 720)


def test_splits_share_no_source():
    dev = {s.key for s in seated.SOURCES if s.split == "dev"}
    test = {s.key for s in seated.SOURCES if s.split == "test"}
    assert dev and test and not dev & test
    dev_set = seated.seated_scenes("dev", n=1, seed=0)
    test_set = seated.seated_scenes("test", n=1, seed=0)
    assert not {p.source.split("#")[0] for p in dev_set.people} & \
        {p.source.split("#")[0] for p in test_set.people}
    assert {p.source.split("#")[0] for p in dev_set.people} <= dev


def test_scoring_counts_hits_and_false_raises(test_set):
    scene = test_set.scenes[0]
    truth = np.array([p.raised for p in scene.people])
    anchors = np.array([p.anchor for p in scene.people])
    perfect = seated.score([scene], lambda _img: (anchors, truth))
    assert perfect["recall"] == 1.0 and perfect["false_raises"] == 0
    everyone = seated.score([scene], lambda _img: (anchors, np.ones(len(truth), bool)))
    assert everyone["false_raise_rate"] == 1.0
    nobody = seated.score([scene], lambda _img: (np.zeros((0, 2)), np.zeros(0, bool)))
    assert nobody["recall"] == 0.0 and nobody["people_without_detection"] == len(truth)
