import math

import pytest

from suite import stats
from suite.sampling import repeat_until_stable
from suite.spec import Profile


def test_summaries():
    s = stats.summarize([1.0, 2.0, 3.0, 4.0])
    assert s["n"] == 4 and s["median"] == 2.5 and s["mean"] == 2.5
    assert s["min"] == 1.0 and s["max"] == 4.0
    assert math.isclose(s["stdev"], 1.2909944, rel_tol=1e-6)
    assert stats.summarize([])["median"] is None


def test_percentile_matches_numpy_linear():
    np = pytest.importorskip("numpy")
    xs = [5.0, 1.0, 9.0, 3.0, 7.0, 2.0]
    for q in (0, 25, 50, 95, 99, 100):
        assert math.isclose(stats.percentile(xs, q), float(np.percentile(xs, q)))


def test_geometric_mean_and_mad():
    assert math.isclose(stats.geometric_mean([1.0, 4.0]), 2.0)
    assert stats.mad([1.0, 2.0, 3.0, 100.0]) == 1.0
    with pytest.raises(ValueError):
        stats.geometric_mean([0.0, 1.0])


def test_repeat_until_stable_stops_early_when_stable():
    calls = []
    prof = Profile("t", min_runs=3, max_runs=10, cv_target=0.05)
    out = repeat_until_stable(lambda: calls.append(1) or 1.0, prof)
    assert len(out) == 3 and len(calls) == 4  # one warm-up discarded


def test_repeat_until_stable_adds_runs_while_noisy_up_to_cap():
    values = iter([100.0] + [1.0, 10.0] * 20)
    prof = Profile("t", min_runs=3, max_runs=7, cv_target=0.05)
    out = repeat_until_stable(lambda: next(values), prof)
    assert len(out) == 7 and 100.0 not in out
