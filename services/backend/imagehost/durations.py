"""Durations as people write them: `30s`, `15m`, `1h`, `7d`, or `never` (for expiry)."""

from __future__ import annotations

import re

NEVER = "never"
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"([1-9][0-9]{0,6})([smhd])")
# Longer is never: a date past year 9999 would not sort as the index's dates do.
LONGEST = 100 * 365 * 86400


def seconds_of(text: str) -> int | None:
    """`1h` -> 3600, `never` -> None; ValueError for anything else, or past 100 years."""
    value = text.strip().lower()
    if value == NEVER:
        return None
    match = _DURATION.fullmatch(value)
    if match is None or int(match[1]) * _UNITS[match[2]] > LONGEST:
        raise ValueError(text)
    return int(match[1]) * _UNITS[match[2]]


def describe(seconds: int | None) -> str:
    """3600 -> `1h`, None -> `never`: the largest unit that divides it."""
    if seconds is None:
        return NEVER
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
