"""Exponential backoff with one jitter rule, for every retry loop (drivers, services, threads).

Each wait is the current delay times a random factor in ``[1 - jitter, 1 + jitter]``; after a
wait the delay doubles, up to ``max_s``; ``reset()`` (after a success) goes back to ``first_s``.
The jitter spreads many devices (or a district's rooms) that failed together, so they do not
all come back in the same instant. Neutral: no agent import, usable from drivers and threads.
"""

from __future__ import annotations

import random

JITTER = 0.2  # the default spread: +-20 % of the delay


class Backoff:
    def __init__(self, first_s: float, max_s: float, *, jitter: float = JITTER) -> None:
        if not 0 <= jitter < 1:
            raise ValueError(f"jitter must be in [0, 1), got {jitter}")
        self.first_s = first_s
        self.max_s = max_s
        self.jitter = jitter
        self.delay = first_s  # the next wait before jitter

    def reset(self) -> None:
        """A success: the next failure waits ``first_s`` again."""
        self.delay = self.first_s

    def next(self) -> float:
        """The seconds to wait now (jittered); the delay after it doubles up to ``max_s``."""
        wait = self.delay * random.uniform(1 - self.jitter, 1 + self.jitter)
        self.delay = min(self.delay * 2, self.max_s)
        return wait
