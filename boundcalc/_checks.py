"""Input validation shared by the library and the command line.

Every check raises :class:`BoundcalcError` (a ``ValueError``) whose message names the
parameter and its valid range; the CLI prints that message on one line and exits 2.
"""

from __future__ import annotations

import math
from numbers import Real

import mpmath
import numpy as np


class BoundcalcError(ValueError):
    """Bad input: the message names the parameter and what is allowed."""


def _fmt(x) -> str:
    if x == math.inf:
        return "inf"
    if x == -math.inf:
        return "-inf"
    return f"{x:g}" if isinstance(x, float) else str(x)


def check_range(name: str, value, low=-math.inf, high=math.inf,
                low_inclusive: bool = True, high_inclusive: bool = True):
    """Return ``value`` if it is a finite-or-allowed real number inside the range, else raise.

    The message reads e.g. ``delta must be in (0, 1), got 1.5``.
    """
    try:  # an mpmath number keeps its unbounded exponent (delta = 1e-400 stays positive)
        x = value if isinstance(value, mpmath.mpf) else float(value)
    except (TypeError, ValueError):
        raise BoundcalcError(f"{name} must be a number, got {value!r}") from None
    if mpmath.isnan(x):
        raise BoundcalcError(f"{name} must be a number, got nan")
    left = "[" if low_inclusive else "("
    right = "]" if high_inclusive else ")"
    ok_low = x >= low if low_inclusive else x > low
    ok_high = x <= high if high_inclusive else x < high
    if not (ok_low and ok_high):
        raise BoundcalcError(
            f"{name} must be in {left}{_fmt(low)}, {_fmt(high)}{right}, got {value}")
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value)
    return x


def check_positive(name: str, value):
    return check_range(name, value, 0, math.inf, False, False)


def check_nonnegative(name: str, value):
    return check_range(name, value, 0, math.inf, True, False)


def check_positive_int(name: str, value, minimum: int = 1) -> int:
    """An integer >= ``minimum`` (floats such as 1e6 that are whole numbers are accepted)."""
    if isinstance(value, bool) or not isinstance(value, (Real, str)):
        raise BoundcalcError(f"{name} must be an integer >= {minimum}, got {value!r}")
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise BoundcalcError(f"{name} must be an integer >= {minimum}, got {value!r}") from None
    if not math.isfinite(x) or x != int(x) or x < minimum:
        raise BoundcalcError(f"{name} must be an integer >= {minimum}, got {value}")
    return int(x)


def check_choice(name: str, value, choices):
    if value not in choices:
        raise BoundcalcError(f"{name} must be one of {', '.join(map(str, choices))}; got {value!r}")
    return value


def check_fraction(name: str, value):
    """A real fraction in (0, 1]."""
    return check_range(name, value, 0, 1, False, True)


def check_probability(name: str, value):
    """A failure probability in (0, 1)."""
    return check_range(name, value, 0, 1, False, False)


def parse_number_list(name: str, text):
    """``"0.5,0.2"`` -> ``(0.5, 0.2)``; None stays None; anything else names ``name``."""
    if text is None:
        return None
    try:
        values = tuple(float(v) for v in str(text).split(",") if v.strip())
    except ValueError:
        raise BoundcalcError(f"{name} must be comma-separated numbers, got {text!r}") from None
    if not values:
        raise BoundcalcError(f"{name} must list at least one number")
    return values
