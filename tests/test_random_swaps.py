"""The permutation tests' random swaps (issue 23, METHOD_VERSION 3): packed bits of the bit generator's raw
outputs. Seeded, so every check is deterministic; the bounds are 6 standard errors of a fair coin."""

from __future__ import annotations

import numpy as np

from harness.stats.permutation import random_swaps


def test_swaps_are_a_stream_whatever_the_blocks() -> None:
    """A sequential test draws in blocks that differ from a fixed run's: the patterns must not."""
    for m in (1, 63, 64, 65, 1081):
        one = random_swaps(np.random.default_rng(7), 50, m)
        rng = np.random.default_rng(7)
        parts = np.concatenate([random_swaps(rng, k, m) for k in (1, 9, 17, 23)])
        assert one.shape == (50, m) and one.dtype == bool
        assert np.array_equal(one, parts)


def test_swaps_are_fair_and_independent_coins() -> None:
    n, m = 40_000, 130  # three raw words per pattern, the last one partly used
    s = random_swaps(np.random.default_rng(11), n, m).astype(np.float64)
    bound = 6 * 0.5 / np.sqrt(n)
    assert np.abs(s.mean(axis=0) - 0.5).max() < bound  # every unit, incl. each word's first and last bit
    c = np.corrcoef(s.T)
    off = c[~np.eye(m, dtype=bool)]
    assert np.abs(off).max() < 6 / np.sqrt(n)  # no two units move together (within and across words)


def test_every_pattern_is_drawn() -> None:
    """All patterns are possible: over 2^m patterns of few units, draws hit every one."""
    s = random_swaps(np.random.default_rng(3), 4096, 6)
    codes = s.astype(np.int64) @ (1 << np.arange(6))
    assert set(codes.tolist()) == set(range(64))
