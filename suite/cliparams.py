"""Click parameter types shared by every subcommand.

One number type for every numeric option, so `nan`, `inf` and friends are
refused everywhere alike: float() accepts them, and a NaN timeout would
switch the timeout off (every comparison with NaN is false).
"""
from __future__ import annotations

import math

import click


class FiniteFloat(click.ParamType):
    """A finite number, optionally above a bound."""

    name = "number"

    def __init__(self, minimum: float | None = None, min_open: bool = False):
        self.minimum, self.min_open = minimum, min_open

    @property
    def accepted(self) -> str:
        if self.minimum is None:
            return "a finite number"
        return f"a finite number {'>' if self.min_open else '>='} {self.minimum:g}"

    def convert(self, value, param, ctx):
        try:
            number = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number; accepted: {self.accepted}", param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number; accepted: {self.accepted}", param, ctx)
        if self.minimum is not None and (number < self.minimum or
                                         (self.min_open and number == self.minimum)):
            self.fail(f"{value} is out of range; accepted: {self.accepted}", param, ctx)
        return number


POSITIVE = FiniteFloat(minimum=0, min_open=True)


# Memory-kernel placement options shared by run, plan and validate; their
# choices are the kernels' own (kernels.plans), so the CLI cannot drift.
def stride_option(help_text: str = "Pointer-chase stride in bytes."):
    from kernels.plans import DEFAULT_STRIDE, STRIDE_CHOICES

    return click.option("--stride", type=click.Choice([str(s) for s in STRIDE_CHOICES]),
                        default=str(DEFAULT_STRIDE), show_default=True, help=help_text)


def bind_option(help_text: str = "Thread placement over cores."):
    from kernels.plans import BIND_CHOICES, DEFAULT_BIND

    return click.option("--bind", type=click.Choice(BIND_CHOICES), default=DEFAULT_BIND,
                        show_default=True, help=help_text)
