"""The statistics reproduce the frozen reference outputs (tests/stats_reference/, made by its make_reference.py
from the code before issue 23's speed-up) on small seeded inputs.

Tolerance: the draws are the reference's (the test draws swaps as its code did: one uniform double per unit, where
the harness now draws packed bits, METHOD_VERSION 3), so every count (n_extreme, n_permutations), method, stop
reason and unit is compared exactly, and every float to within 1e-12 absolute. The faster code computes the same
sums from the same draws in a different order (matrix products, closed forms for the mid-ranks' mean and spread,
sparse incidence products), so floats may differ by rounding: a few ulps of sums of at most a few hundred terms
of magnitude ≤ 100 (≈ 1e-13 at worst); the counts would only differ if a permutation statistic fell within 1e-13
of the observed one, which the test's own tie tolerance (1e-12) already absorbs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.stats_reference import make_reference

HERE = Path(__file__).parent / "stats_reference"


def _uniform_swaps(rng: np.random.Generator, rows: int, m: int) -> np.ndarray:
    """The swaps as the reference's code drew them (one uniform double per unit; METHOD_VERSION 2)."""
    return rng.random((rows, m)) < 0.5


@pytest.fixture(autouse=True)
def _reference_draws(monkeypatch: pytest.MonkeyPatch) -> None:
    """Same draws as the reference: the statistics must reproduce it; only how swaps are drawn changed since
    (METHOD_VERSION 3, packed bits: tests/test_stats.py checks those)."""
    from harness.stats import permutation

    monkeypatch.setattr(permutation, "random_swaps", _uniform_swaps)
REFERENCE = json.loads((HERE / "reference.json").read_text())
ATOL = 1e-12


@pytest.fixture(scope="module")
def data() -> dict[str, np.ndarray]:
    with np.load(HERE / "cases.npz", allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def _close(got: object, want: object, what: str) -> None:
    if want is None or (isinstance(want, (str, bool, int)) and not isinstance(want, float)):
        if isinstance(got, float) and np.isnan(got):
            got = None
        assert got == want, what
        return
    np.testing.assert_allclose(np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64), rtol=0,
                               atol=ATOL, err_msg=what)


@pytest.mark.parametrize("run", make_reference.RUNS, ids=[r[0] for r in make_reference.RUNS])
def test_reference(data: dict[str, np.ndarray], run: tuple) -> None:
    name = run[0]
    got = make_reference.run(data, *run)
    want = REFERENCE[name]
    for field, value in want["stats"].items():
        _close(got["stats"][field], value, f"{name}: {field}")
    for part in ("boot", "score_w", "perm", "text_variance"):
        _close(got[part], want[part], f"{name}: {part}")


def test_inputs_are_the_committed_ones(data: dict[str, np.ndarray]) -> None:
    """The committed inputs are what make_reference.cases() generates (so a regenerated reference is comparable)."""
    fresh = make_reference.cases()
    assert sorted(fresh) == sorted(data)
    for k, v in fresh.items():
        assert np.array_equal(np.asarray(v).astype(data[k].dtype), data[k]), k
