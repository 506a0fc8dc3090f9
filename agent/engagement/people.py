"""People, not faces: fuse verified faces, rejected detections, bodies and recent places.

A student whose face the detector cannot see (bowed over the desk, turned, half hidden)
is still in the room. Three kinds of evidence make a person in one frame:

- a **verified face**: the detector's box and FaceMesh's face-presence score agree
  (a detection FaceMesh rejects on a poster, gravel or a cat is not a person);
- a **body** from the pose model whose head region no face covers (every few seconds);
- a **place** (``Seat``) where a person was seen in the last ``memory_s`` seconds and
  that nobody is seen at now: the student bowed their head or is hidden for a moment.

A detection FaceMesh rejects is a bowed head (a person, not up) when it sits at a known
place or in a body's head region, and a phantom otherwise. A place is made only by a
verified face or a body, so an image without people gives 0 however cluttered it is.

The head-up rate is over people: heads that bow stop counting as "up" and keep counting
as people, so the rate goes down when the class looks down.

Privacy: a place is a position and a size in frame pixels with two timestamps; nothing
about who sat there, no pixels, no embedding. Places live in memory only and are dropped
``memory_s`` after their last evidence (the hand tracker keeps shoulder positions the
same way).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

import numpy as np


class Check(Enum):
    VERIFIED = "verified"  # FaceMesh ran and says face
    REJECTED = "rejected"  # FaceMesh ran and says not a face
    UNCHECKED = "unchecked"  # no FaceMesh this frame (rotating sample)


@dataclass
class Seat:
    """A place where a person was seen (frame pixels of the analysis width)."""

    x: float
    y: float
    size: float
    seen: float  # monotonic time of the last evidence at this place
    up: bool = False  # last known head state
    checked: float = 0.0  # when FaceMesh last ran for the face here


@dataclass
class Person:
    x: float
    y: float
    size: float
    up: bool
    source: str  # "face", "bowed", "body", "remembered"
    seat: Seat | None = None  # the place of a "remembered" person (for confirm_body)


@dataclass
class Fused:
    people: list[Person]
    phantoms: int  # detections dropped as not a person

    @property
    def count(self) -> int:
        return len(self.people)

    @property
    def up(self) -> int:
        return sum(p.up for p in self.people)


def _near(x: float, y: float, size: float, sx: float, sy: float, ssize: float) -> float:
    """Normalised distance between a detection and a place (inf when too far). A bowed
    head sits lower than the face it was, so the window reaches further down."""
    s = max(size, ssize, 1.0)
    dx, dy = (x - sx) / s, (y - sy) / s
    if abs(dx) > 0.6 or dy < -0.5 or dy > 1.0:
        return float("inf")
    return float(np.hypot(dx, dy))


def _close(x: float, y: float, size: float, p: Person) -> bool:
    """Whether a place or head at (x, y) is the same person as ``p``: nearer than about
    one head (neighbours in a row sit further apart)."""
    s = max(size, p.size, 1.0)
    return float(np.hypot(x - p.x, y - p.y)) < 0.9 * s


@dataclass
class SeatMap:
    memory_s: float = 120.0
    seats: list[Seat] = field(default_factory=list)

    def reset(self) -> None:
        self.seats = []

    def match(self, boxes: np.ndarray, now: float) -> list[int]:
        """For each face box, the index of its place or -1 (greedy, nearest first)."""
        self._expire(now)
        out = [-1] * len(boxes)
        pairs = []
        for i, b in enumerate(boxes):
            x, y, s = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2, max(b[2] - b[0], b[3] - b[1])
            for j, st in enumerate(self.seats):
                d = _near(float(x), float(y), float(s), st.x, st.y, st.size)
                if d < float("inf"):
                    pairs.append((d, i, j))
        used: set[int] = set()
        for _d, i, j in sorted(pairs):
            if out[i] < 0 and j not in used:
                out[i] = j
                used.add(j)
        return out

    def _expire(self, now: float) -> None:
        self.seats = [s for s in self.seats if now - s.seen <= self.memory_s]

    def fuse(self, now: float, boxes: np.ndarray, checks: list[Check],
             ups: list[bool | None], heads: np.ndarray | None = None) -> Fused:
        """People in this frame. ``boxes`` (N,4) face boxes; per face its ``Check`` and
        head state (None when unknown); ``heads`` (M,3) x, y, size of the head region of
        each body the pose model found this frame (None when it did not run)."""
        seat_of = self.match(boxes, now)
        people: list[Person] = []
        phantoms = 0
        head_used = np.zeros(0 if heads is None else len(heads), bool)
        seen_seats: set[int] = set()
        for i, b in enumerate(boxes):
            x, y = float(b[0] + b[2]) / 2, float(b[1] + b[3]) / 2
            s = float(max(b[2] - b[0], b[3] - b[1]))
            j = seat_of[i]
            seat = self.seats[j] if j >= 0 else None
            body = self._body_for(heads, head_used, x, y, s)
            match checks[i]:
                case Check.VERIFIED:
                    up = bool(ups[i])
                    people.append(Person(x, y, s, up, "face"))
                    if seat is None:
                        self.seats.append(Seat(x, y, s, now, up, now))
                        seen_seats.add(len(self.seats) - 1)
                    else:
                        seat.x, seat.y, seat.size, seat.seen = x, y, s, now
                        seat.up, seat.checked = up, now
                case Check.REJECTED:
                    if seat is None and body < 0:
                        phantoms += 1
                        continue
                    # a face FaceMesh can read (a doubtful but real one) keeps its pose;
                    # one it cannot read is a bowed head
                    up = bool(ups[i])
                    people.append(Person(x, y, s, up, "bowed" if not up else "face"))
                    if seat is not None:
                        # the place stays where the upright face was: a bowed head drifts
                        seat.seen, seat.up, seat.checked = now, up, now
                    else:
                        self.seats.append(Seat(x, y, s, now, up, now))
                        seen_seats.add(len(self.seats) - 1)
                case Check.UNCHECKED:
                    if seat is None and body < 0:
                        continue  # waits for its turn of FaceMesh; not counted yet
                    up = seat.up if seat is not None else False
                    people.append(Person(x, y, s, up, "face"))
                    if seat is not None:
                        seat.seen = now
            if body >= 0:
                head_used[body] = True
            if j >= 0:
                seen_seats.add(j)
        # bodies with no face in their head region: a person whose face is not seen
        if heads is not None:
            for k, (hx, hy, hs) in enumerate(heads):
                if head_used[k]:
                    continue
                if any(_close(float(hx), float(hy), float(hs), p) for p in people):
                    continue  # somebody already counted there (a head estimate is rough)
                j = next((n for n, st in enumerate(self.seats) if n not in seen_seats and
                          _near(float(hx), float(hy), float(hs), st.x, st.y, st.size)
                          < float("inf")), -1)
                people.append(Person(float(hx), float(hy), float(hs), False, "body"))
                if j >= 0:
                    self.seats[j].seen = now
                    seen_seats.add(j)
                else:
                    self.seats.append(Seat(float(hx), float(hy), float(hs), now, False, 0.0))
                    seen_seats.add(len(self.seats) - 1)
        # places nobody is seen at now but someone was recently: heads down or hidden. A
        # place right next to someone seen now is that person, moved further than a
        # match reaches between two frames: the place goes, nobody is counted twice.
        keep: list[Seat] = []
        for j, st in enumerate(self.seats):
            if j in seen_seats:
                keep.append(st)
            elif not any(_close(st.x, st.y, st.size, p) for p in people):
                keep.append(st)
                people.append(Person(st.x, st.y, st.size, False, "remembered", st))
        self.seats = keep
        return Fused(people, phantoms)

    @staticmethod
    def _body_for(heads: np.ndarray | None, used: np.ndarray, x: float, y: float,
                  s: float) -> int:
        if heads is None or len(heads) == 0:
            return -1
        best, best_d = -1, float("inf")
        for k, (hx, hy, hs) in enumerate(heads):
            if used[k]:
                continue
            d = _near(x, y, s, float(hx), float(hy), float(hs))
            if d < best_d:
                best, best_d = k, d
        return best


def confirm_body(person: Person, keypoints: np.ndarray, now: float,
                 min_score: float = 0.3) -> bool:
    """A remembered place (nobody seen there by the face detector) whose crop shows a body
    -- a head (or both shoulders) at the place and both shoulders seen -- is a person
    still there: the place is kept ``memory_s`` longer (a student bowed over the desk for
    minutes). ``keypoints`` (17,3) from the top-down pose model on that place's crop.
    This is what the multipose model's bodies did for places before issue 15."""
    if person.seat is None or keypoints[5:7, 2].min() < min_score:
        return False
    head = body_heads(keypoints[None], min_score)
    if not len(head):
        return False
    hx, hy, hs = (float(v) for v in head[0])
    if _near(hx, hy, hs, person.x, person.y, person.size) == float("inf"):
        return False
    person.seat.seen = now
    return True


def body_heads(keypoints: np.ndarray, min_score: float = 0.3) -> np.ndarray:
    """Head region (x, y, size) of each body (P,17,3 COCO keypoints, frame pixels) with a
    visible head or both shoulders; (0,3) when none. Bodies without either are dropped:
    a body model's guess without a head or shoulders is too weak to count a person."""
    out = []
    for kp in keypoints:
        head = kp[:5][kp[:5, 2] >= min_score]  # nose, eyes, ears
        sh = kp[5:7]
        shoulders = sh[:, 2].min() >= min_score
        width = float(abs(sh[0, 0] - sh[1, 0])) if shoulders else 0.0
        if len(head) >= 2:
            x, y = float(head[:, 0].mean()), float(head[:, 1].mean())
            size = max(float(np.ptp(head[:, 0])) * 1.6, 0.5 * width, 8.0)
        elif shoulders and width > 0:
            x = float(sh[:, 0].mean())
            size = 0.5 * width
            y = float(sh[:, 1].mean()) - 1.1 * size
        else:
            continue
        out.append((x, y, size))
    return np.asarray(out, np.float32).reshape(-1, 3)
