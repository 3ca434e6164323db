"""Argument checks shared by sgdlab.data and sgdlab.parallel: each message names the argument and
the value it got."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def check_int(name: str, value, minimum: int) -> int:
    """An int (not a bool) >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name}={value} must be >= {minimum}")
    return int(value)


def check_float(name: str, value, ok: Callable[[float], bool], expected: str) -> float:
    """A finite number for which ``ok`` holds; ``expected`` says what was expected."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number, got {value!r}") from None
    if not np.isfinite(number) or not ok(number):
        raise ValueError(f"{name}={value!r} must be {expected}")
    return number
