"""Time units and normal quantiles: each defined once, for the whole package.

``DAYS_PER_UNIT`` converts a period code to days. A month is the mean Gregorian month
(365.2425 / 12 = 30.436875 days) and a year the mean Gregorian year (365.2425 days), so that
12 months are exactly one year. Long names (``"day"``, ``"week"``, ``"month"``, ``"year"``) are
accepted wherever a unit is, through :func:`days_per`.

``z_value(alpha)`` is the two-sided standard-normal critical value; ``Z95`` the one for 95 %.
"""
from __future__ import annotations

DAYS_PER_YEAR = 365.2425
DAYS_PER_UNIT = {"D": 1.0, "W": 7.0, "M": DAYS_PER_YEAR / 12, "Y": DAYS_PER_YEAR}
UNIT_NAMES = {"day": "D", "week": "W", "month": "M", "year": "Y"}


def unit_code(unit: str) -> str:
    """``"D"``/``"W"``/``"M"``/``"Y"`` for a unit code or long name (case-insensitive)."""
    key = str(unit).strip()
    code = UNIT_NAMES.get(key.lower(), key.upper())
    if code not in DAYS_PER_UNIT:
        raise ValueError(f"unit must be one of {tuple(DAYS_PER_UNIT)} or {tuple(UNIT_NAMES)}, "
                         f"not {unit!r}")
    return code


def days_per(unit: str) -> float:
    """Days in one ``unit`` (a code or a long name)."""
    return DAYS_PER_UNIT[unit_code(unit)]


def z_value(alpha: float = 0.05) -> float:
    """Two-sided critical value of the standard normal for level ``alpha``."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), not {alpha!r}")
    # scipy.special: 0.1-0.4 s to import, which the transaction summaries (engines import this
    # module) do not need — imported on the first call instead (issue 22, first-call cost)
    from scipy.special import ndtri

    return float(ndtri(1 - alpha / 2))


#: ``z_value(0.05)``, written out so that importing this module costs no scipy import
#: (tests/engines/test_summary_imports.py checks it equals scipy's ``ndtri(0.975)`` bit for bit).
Z95 = 1.959963984540054
