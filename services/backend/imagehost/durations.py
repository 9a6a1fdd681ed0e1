"""Durations as people write them: `30s`, `15m`, `1h`, `7d`, or `never` (for expiry)."""

from __future__ import annotations

import re

NEVER = "never"
# A hundred years. Longer would also reach past year 9999, where ISO 8601 moments (compared
# as text by the expiry sweep) get a fifth digit and sort before today's: `3000000d`
# would expire at once.
LONGEST = 36500 * 86400
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"([1-9][0-9]{0,6})([smhd])")


def seconds_of(text: str) -> int | None:
    """`1h` -> 3600, `never` -> None; ValueError for anything else, or longer than LONGEST."""
    value = text.strip().lower()
    if value == NEVER:
        return None
    match = _DURATION.fullmatch(value)
    if match is None:
        raise ValueError(text)
    seconds = int(match[1]) * _UNITS[match[2]]
    if seconds > LONGEST:
        raise ValueError(text)
    return seconds


def describe(seconds: int | None) -> str:
    """3600 -> `1h`, None -> `never`: the largest unit that divides it."""
    if seconds is None:
        return NEVER
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
