"""Numbers as a report shows them: one function per kind of quantity, never scientific notation.

Kinds (the ``kind`` argument of :func:`value` and :func:`interval`):

``number``  3 significant figures, thousands separators (``0.366``, ``2.67``, ``1,235``)
``count``   a whole number (``7,997``)
``money``   currency from a ``currency`` code or symbol (``$20.26``, ``$1,235``, ``1,235 CHF``)
``share``   a proportion as a percentage (``35.7%``); its differences in points (``+3.8 pts``)
``nps``     a Net Promoter Score on the −100…100 scale (``12.6``); differences in points
``days``    a duration (``12.1 days``)
``ratio``   a hazard, rate or risk ratio (``0.897``)
``lift``    a relative change as a signed percentage (``+15.9%``)
``p``       a p-value (``< 0.001``, ``0.042``)
``text``    shown as it is

A difference (``signed=True``) carries its sign and, for shares and NPS, the unit *points*.
Missing values (``None``, NaN, ±inf) are :data:`MISSING`; tables explain them in a footnote.
"""
from __future__ import annotations

import math

MISSING = "—"
MINUS = "−"
NBSP = "\u00a0"
KINDS = ("number", "count", "money", "share", "nps", "days", "ratio", "lift", "p", "text")
#: Currency codes shown as a prefix symbol; any other code is written after the number.
CURRENCY_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "INR": "₹", "AUD": "A$",
                    "CAD": "C$"}


def is_missing(x) -> bool:
    if x is None:
        return True
    try:
        return not math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def _sign(x: float, signed: bool) -> str:
    if x < 0:
        return MINUS
    return "+" if signed and x > 0 else ""


def _decimals(a: float, digits: int) -> int:
    """Decimals that show ``digits`` significant figures of ``a`` (none for |a| ≥ 10^(digits-1))."""
    if a == 0:
        return 0
    return min(6, max(0, digits - 1 - math.floor(math.log10(a))))


def number(x, digits: int = 3, *, signed: bool = False) -> str:
    """``digits`` significant figures in fixed notation: ``0.000632``, ``2.67``, ``139``,
    ``118,983`` (large values keep all their integer digits)."""
    if is_missing(x):
        return MISSING
    x = float(x)
    a = abs(x)
    dec = _decimals(a, digits)
    text = f"{round(a, dec):,.{dec}f}"
    if "." in text:  # 0.0500 -> 0.05: the digits that carry information
        text = text.rstrip("0").rstrip(".")
    if float(text.replace(",", "")) == 0:
        return "0"
    return _sign(x, signed) + text


def general(x, digits: int = 3, *, missing: str = MISSING) -> str:
    """Python's ``g`` format with ``digits`` significant figures (plain-text logs: ``0.000632``,
    ``1.2e+04``); ``missing`` for a missing or infinite value."""
    return missing if is_missing(x) else f"{float(x):.{digits}g}"


def count(x) -> str:
    """A whole number with thousands separators: ``7997.0`` → ``7,997``."""
    if is_missing(x):
        return MISSING
    x = round(float(x))
    return (MINUS if x < 0 else "") + f"{abs(x):,d}"


def p_value(p) -> str:
    """``< 0.001`` below one in a thousand, else three decimals (two from 0.1 up)."""
    if is_missing(p):
        return MISSING
    p = float(p)
    if p < 0.001:
        return "< 0.001"
    if p > 0.999:
        return "> 0.999"
    return f"{p:.3f}" if p < 0.1 else f"{p:.2f}"


def p_text(p, name: str = "p") -> str:
    """A p-value in a sentence: ``p < 0.001``, ``p = 0.042`` (:func:`p_value`)."""
    text = p_value(p)
    return f"{name} {text}" if text[0] in "<>" else f"{name} = {text}"


def money(x, currency: str | None = None, *, signed: bool = False, sig: int | None = None) -> str:
    """``$20.26``, ``$139``, ``−$1,235``, ``1,235 CHF``: cents below 100, none from 100 up;
    ``sig`` rounds to that many significant figures first (``$20,400``)."""
    if is_missing(x):
        return MISSING
    x = float(x)
    if sig is not None and x != 0:
        x = float(f"{x:.{sig}g}")
    a = abs(x)
    body = f"{a:,.0f}" if a >= 100 else f"{a:,.2f}"
    if float(body.replace(",", "")) == 0:
        body, x = "0", 0.0
    sign = _sign(x, signed)
    if not currency:
        return sign + body
    code = str(currency).strip()
    symbol = CURRENCY_SYMBOLS.get(code.upper())
    if symbol is None and len(code) <= 2 and not code.isalpha():  # a symbol given directly: "€"
        symbol = code
    if symbol is not None:
        return f"{sign}{symbol}{body}"
    return f"{sign}{body}{NBSP}{code}"


def share(x, *, decimals: int = 1) -> str:
    """A proportion as a percentage: ``0.3569`` → ``35.7%``."""
    if is_missing(x):
        return MISSING
    x = 100 * float(x)
    return _sign(x, False) + f"{abs(x):.{decimals}f}%"


def points(x, *, decimals: int = 1, scale: float = 1.0, signed: bool = True) -> str:
    """A difference in percentage points (``scale=100`` for a difference of proportions):
    ``+3.8 pts``."""
    if is_missing(x):
        return MISSING
    x = scale * float(x)
    body = f"{abs(x):.{decimals}f}"
    if float(body) == 0:
        return f"0{'.' + '0' * decimals if decimals else ''}{NBSP}pts"
    return f"{_sign(x, signed)}{body}{NBSP}pts"


def lift(x, *, decimals: int = 1) -> str:
    """A relative change: ``0.1587`` → ``+15.9%``."""
    if is_missing(x):
        return MISSING
    x = 100 * float(x)
    body = f"{abs(x):,.{decimals}f}"
    if float(body.replace(",", "")) == 0:
        return f"0.{'0' * decimals}%"
    return f"{_sign(x, True)}{body}%"


def days(x, *, signed: bool = False, digits: int = 3) -> str:
    if is_missing(x):
        return MISSING
    return f"{number(x, digits, signed=signed)}{NBSP}days"


def ratio(x) -> str:
    """A ratio with three significant figures (at least two decimals): ``0.897``, ``1.21``."""
    if is_missing(x):
        return MISSING
    x = float(x)
    return f"{x:.3f}" if abs(x) < 1 else f"{x:,.{max(2, _decimals(abs(x), 3))}f}"


def value(x, kind: str = "number", *, currency: str | None = None, signed: bool = False) -> str:
    """``x`` formatted as ``kind`` (see the module docstring); ``signed`` for a difference."""
    if kind == "text":
        return MISSING if is_missing(x) and not isinstance(x, str) else str(x)
    if is_missing(x):
        return MISSING
    if kind == "number":
        return number(x, signed=signed)
    if kind == "count":
        c = count(x)
        return ("+" + c) if signed and float(x) > 0 else c
    if kind == "money":
        return money(x, currency, signed=signed)
    if kind == "share":
        return points(x, scale=100) if signed else share(x)
    if kind == "nps":  # one decimal, as its differences in points
        return points(x) if signed else _sign(float(x), False) + f"{abs(float(x)):.1f}"
    if kind == "days":
        return days(x, signed=signed)
    if kind == "ratio":
        return ratio(x)
    if kind == "lift":
        return lift(x)
    if kind == "p":
        return p_value(x)
    raise ValueError(f"unknown kind {kind!r}; expected one of {KINDS}")


def interval(lo, hi, kind: str = "number", *, currency: str | None = None,
             signed: bool = False) -> str:
    """``[a, b]`` in the units of ``kind``; ``—`` when either end is missing."""
    if is_missing(lo) or is_missing(hi):
        return MISSING
    return (f"[{value(lo, kind, currency=currency, signed=signed)}, "
            f"{value(hi, kind, currency=currency, signed=signed)}]")


def estimate(x, lo, hi, kind: str = "number", *, currency: str | None = None,
             signed: bool = False) -> str:
    """``+3.8 pts [+0.9 pts, +6.7 pts]``: an estimate with its 95 % interval."""
    text = value(x, kind, currency=currency, signed=signed)
    ci = interval(lo, hi, kind, currency=currency, signed=signed)
    return text if ci == MISSING else f"{text} {ci}"
