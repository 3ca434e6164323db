"""Constructor-argument validation shared by the models: every message names the argument and the
value it got, as the optimizers' checks do."""

from __future__ import annotations

import math
import numbers
from typing import Any


def check_positive_int(name: str, value: Any, *, minimum: int = 1) -> int:
    # bool is an int subclass; True as a layer width is always a mistake
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"Invalid {name}: {value!r} (expected an integer >= {minimum})")
    return int(value)


def check_widths(name: str, value: Any, *, allow_empty: bool = True) -> tuple[int, ...]:
    """A sequence of layer widths; a single int means one layer."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        value = (value,)
    if not isinstance(value, (tuple, list)):
        raise ValueError(f"Invalid {name}: {value!r} (expected a tuple of integers >= 1)")
    if not value and not allow_empty:
        raise ValueError(f"Invalid {name}: {value!r} (expected at least one integer >= 1)")
    if any(isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1 for v in value):
        raise ValueError(f"Invalid {name}: {value!r} (expected a tuple of integers >= 1)")
    return tuple(int(v) for v in value)


def check_probability(name: str, value: Any) -> float:
    """A dropout probability: in [0, 1), since p = 1 would zero every activation."""
    ok = (isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
          and 0.0 <= value < 1.0)
    if not ok:
        raise ValueError(f"Invalid {name}: {value!r} (expected a number in [0, 1))")
    return float(value)


def check_bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"Invalid {name}: {value!r} (expected True or False)")
    return value


def check_choice(name: str, value: Any, choices: tuple[str, ...]) -> str:
    key = value.lower() if isinstance(value, str) else value
    if key not in choices:
        raise ValueError(f"Invalid {name}: {value!r} (expected one of {', '.join(map(repr, choices))})")
    return key
