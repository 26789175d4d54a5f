import pytest

from suite.cost import cost_per_unit
from suite.errors import UserError
from suite.model import measurement


def _rate(bench, metric, value, params=None, unit="units/s"):
    return measurement(bench, params or {}, metric, unit, [value], higher_is_better=True)


def test_cost_per_block_from_throughput():
    recs = [
        _rate("stream.triad", "bandwidth", 100.0, {"threads": 2}, "GB/s"),
        _rate("compile.c", "throughput", 2.0),
        _rate("tools.code_exec", "throughput", 500.0, {"concurrency": 4}),
        _rate("db.point", "throughput", 10_000.0),
        _rate("tools.code_exec", "latency_p99", 5.0),  # not a rate: no cost
    ]
    out = {r.metric: r for r in cost_per_unit(recs, 3.6)}
    assert set(out) == {"cost_per_tb", "cost_per_thousand_compiles",
                        "cost_per_million_calls", "cost_per_million_queries"}
    # 100 GB/s = 360 TB/h; $3.60/h -> $0.01 per TB
    assert out["cost_per_tb"].value == pytest.approx(0.01)
    # 2/s = 7200/h -> $3.60 / 7.2 thousand = $0.50
    assert out["cost_per_thousand_compiles"].value == pytest.approx(0.5)
    assert out["cost_per_million_calls"].value == pytest.approx(2.0)
    assert out["cost_per_million_queries"].value == pytest.approx(0.1)
    c = out["cost_per_tb"]
    assert c.unit == "$" and c.higher_is_better is False and c.params == {"threads": 2}
    assert c.info["cost_per_hour"] == 3.6


def test_currency_and_invalid_source_carry_over():
    rec = measurement("db.point", {}, "throughput", "queries/s", [5.0],
                      higher_is_better=True, validated=False)
    (out,) = cost_per_unit([rec], "2", currency="EUR")
    assert out.unit == "EUR" and out.validated is False


@pytest.mark.parametrize("bad", [0, -1, "abc", None, float("nan")])
def test_bad_price_is_a_user_error(bad):
    with pytest.raises(UserError, match="positive number"):
        cost_per_unit([], bad)
