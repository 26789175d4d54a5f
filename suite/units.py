"""Byte counts as people read them: binary prefixes (KiB, MiB, ...)."""
from __future__ import annotations

BINARY_UNITS = (("TiB", 2 ** 40), ("GiB", 2 ** 30), ("MiB", 2 ** 20), ("KiB", 2 ** 10))


def bytes_text(n: float, digits: int | None = 1) -> str:
    """`n` bytes in the largest unit it reaches: "1.5 MiB" (`digits` after the
    point), or with `digits=None` as short as the value allows ("32 KiB")."""
    for unit, size in BINARY_UNITS:
        if n >= size:
            value = n / size
            return f"{value:g} {unit}" if digits is None else f"{value:.{digits}f} {unit}"
    return f"{n:g} B"
