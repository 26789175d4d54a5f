"""Cost per unit of work from a server's hourly price (`--cost-per-hour`).

A configuration doing `rate` units per second for one hour does
`rate x 3600` units, so one unit costs `price / (rate x 3600)`. The price is
the whole server's: for a configuration that used fewer than all cores this
is what the work costs when the server does nothing else, an upper bound on
what a fully packed server would charge. Compare the all-core figures.
"""
from __future__ import annotations

import fnmatch
import math
from dataclasses import dataclass
from typing import Iterable

from suite.errors import UserError
from suite.model import Record, measurement

SECONDS_PER_HOUR = 3600.0


@dataclass(frozen=True)
class CostRule:
    """A throughput record that becomes a cost-per-block record."""

    benchmark: str  # fnmatch pattern
    metric: str  # source metric: units per second
    new_metric: str
    block: float  # how many source units one priced block holds
    block_name: str  # what the block is, for readers


COST_RULES = (
    # STREAM bandwidth is GB/s: a TB is 1000 GB (decimal, as STREAM reports).
    CostRule("stream.triad", "bandwidth", "cost_per_tb", 1000.0, "TB moved"),
    CostRule("compile.*", "throughput", "cost_per_thousand_compiles", 1e3, "thousand compiles"),
    CostRule("tools.*", "throughput", "cost_per_million_calls", 1e6, "million tool calls"),
    CostRule("db.*", "throughput", "cost_per_million_queries", 1e6, "million queries"),
    CostRule("agent.*", "steps_per_s", "cost_per_million_steps", 1e6, "million agent steps"),
)

COST_BASIS = ("server price per hour / (throughput x 3600 s) x units per block; the whole "
              "server's price, so configurations using fewer cores are an upper bound")


def check_price(cost_per_hour) -> float:
    """The price as a float, or a UserError naming the bad value."""
    try:
        price = float(cost_per_hour)
    except (TypeError, ValueError):
        price = math.nan
    if not math.isfinite(price) or price <= 0:
        raise UserError(f"cost per hour {cost_per_hour!r} is not a price; accepted: a "
                        "positive number (the server's price per hour)")
    return price


def cost_per_unit(records: Iterable[Record], cost_per_hour, currency: str = "$",
                  rules: Iterable[CostRule] = COST_RULES) -> list:
    """Cost records (unit: the price's currency, lower is better) for every
    throughput record a rule covers."""
    price = check_price(cost_per_hour)
    rules = tuple(rules)
    out: list = []
    for r in records:
        rule = next((u for u in rules if u.metric == r.metric
                     and fnmatch.fnmatchcase(r.benchmark, u.benchmark)), None)
        if rule is None or r.value is None or r.value <= 0:
            continue
        out.append(measurement(
            r.benchmark, r.params, rule.new_metric, currency, (),
            higher_is_better=False,
            value=price / (r.value * SECONDS_PER_HOUR) * rule.block,
            validated=r.validated,
            info={"per": rule.block_name, "cost_per_hour": price, "currency": currency,
                  "derived_from": r.metric, "source_value": r.value, "source_unit": r.unit,
                  "basis": COST_BASIS},
        ))
    return out
