"""The one backoff rule every retry loop uses (drivers/backoff.py)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.backoff import Backoff


def test_the_delay_doubles_up_to_the_ceiling_and_reset_starts_over() -> None:
    b = Backoff(1.0, 5.0, jitter=0.0)
    assert [b.next() for _ in range(5)] == [1.0, 2.0, 4.0, 5.0, 5.0]
    b.reset()
    assert b.next() == 1.0


@given(first=st.floats(0.01, 10), ceiling=st.floats(0.01, 100), jitter=st.floats(0, 0.99),
       n=st.integers(1, 20))
def test_every_wait_stays_within_the_jitter_of_its_delay(first: float, ceiling: float,
                                                          jitter: float, n: int) -> None:
    b = Backoff(first, ceiling, jitter=jitter)
    for _ in range(n):
        delay = b.delay
        wait = b.next()
        assert delay * (1 - jitter) - 1e-9 <= wait <= delay * (1 + jitter) + 1e-9
        assert b.delay <= max(first, ceiling)


def test_a_jitter_outside_zero_to_one_is_refused() -> None:
    with pytest.raises(ValueError, match="jitter"):
        Backoff(1.0, 2.0, jitter=1.0)
