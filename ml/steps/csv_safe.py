"""CSV cells a spreadsheet would run as a formula, made inert.

Transformer ids and error messages come from user files; a cell such as ``=HYPERLINK(...)`` or
``@SUM(...)`` in ``fleet_report.csv`` would execute when a planner opens it in Excel or LibreOffice.
Following OWASP's advice on CSV injection, a text cell that starts with ``= + - @``, a tab or a
carriage return gets a leading apostrophe: spreadsheets show it as text, and reading it back gives
the same text with the apostrophe (so neutralizing twice changes nothing).
"""

from __future__ import annotations

import pandas as pd

TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def neutralize(value: object) -> object:
    if isinstance(value, str) and value.startswith(TRIGGERS):
        return "'" + value
    return value


def neutralized(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy whose text cells cannot be formulas; numbers (negative ones included) stay numbers."""
    safe = frame.copy()
    for column in safe.columns:
        if safe[column].dtype == object or pd.api.types.is_string_dtype(safe[column]):
            safe[column] = safe[column].map(neutralize)
    return safe
