"""Cost per unit of work from a server's hourly price (`--cost-per-hour`).

A configuration doing `rate` units per second for one hour does
`rate x 3600` units, so one unit costs `price / (rate x 3600)`. The price is
the whole server's: for a configuration that used fewer than all cores this
is what the work costs when the server does nothing else, an upper bound on
what a fully packed server would charge. Compare the all-core figures.
"""
from __future__ import annotations

import math
from typing import Iterable, Mapping

from suite import meaning
from suite.errors import UserError
from suite.model import Record, measurement

SECONDS_PER_HOUR = 3600.0


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
                  works: Mapping | None = None) -> list:
    """Cost records (unit: the price's currency, lower is better) for every
    rate record its spec declares as work (`works`: suite.meaning.works(),
    default the registry's)."""
    price = check_price(cost_per_hour)
    works = meaning.works() if works is None else works
    out: list = []
    for r in records:
        work = meaning.work_for(r, works)
        if work is None or r.value is None or r.value <= 0:
            continue
        out.append(measurement(
            r.benchmark, r.params, work.cost, currency, (),
            higher_is_better=False,
            value=price / (r.value * SECONDS_PER_HOUR) * work.cost_block,
            validated=r.validated,
            info={"per": work.cost_block_name, "cost_per_hour": price, "currency": currency,
                  "derived_from": r.metric, "source_value": r.value, "source_unit": r.unit,
                  "basis": COST_BASIS},
        ))
    return out
