"""Fixed-width ISO-8601 stamps (``2023-01-01 00:00`` or ``2023-01-01T00:00:00``) read digit by digit.

Meter exports write every stamp in one fixed layout; reading the digits of all of them at once as
bytes is an order of magnitude faster than a general date parser. Anything outside that one layout
(a time zone offset, fractional seconds, spaces, an impossible date such as 30 February) gives None,
and the caller reads the column the general way, which also explains what is wrong.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

_SEPARATORS = {4: b"-", 7: b"-", 13: b":", 16: b":"}
_DATE_TIME = (b" ", b"T")
_DAYS_IN_MONTH = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])
_FIELDS = {"year": (0, 4), "month": (5, 7), "day": (8, 10), "hour": (11, 13), "minute": (14, 16), "second": (17, 19)}
WIDTHS = (16, 19)
"""``YYYY-MM-DD HH:MM`` and ``YYYY-MM-DD HH:MM:SS`` (either with ``T`` between date and time)."""


def fixed_width_seconds(text: pd.Series) -> np.ndarray | None:
    """Seconds since 1970-01-01 of every stamp in ``text`` (a pandas Arrow string column, no missing
    value) when each is a valid date and time in one of :data:`WIDTHS`; None otherwise."""
    cells = _cells(text)
    if cells is None or cells.shape[1] not in WIDTHS:
        return None
    width = cells.shape[1]
    separators = {at: sep for at, sep in _SEPARATORS.items() if at < width}
    if any(not np.all(cells[:, at] == ord(sep)) for at, sep in separators.items()):
        return None
    middle = cells[:, 10]
    if not np.all((middle == ord(_DATE_TIME[0])) | (middle == ord(_DATE_TIME[1]))):
        return None
    fields = {name: span for name, span in _FIELDS.items() if span[1] <= width}
    digits = cells - np.uint8(ord("0"))  # a byte below "0" wraps to 200 and more
    if not np.all(digits[:, [i for start, end in fields.values() for i in range(start, end)]] < 10):
        return None
    values = (digits.astype(float) @ _place_values(fields, width)).astype(np.int64)  # exact: at most 4 digits
    return _seconds(dict(zip(fields, values.T, strict=True)))


def _cells(text: pd.Series) -> np.ndarray | None:
    """The column's bytes as a (rows x width) array when every value has the same length, else None."""
    if not (isinstance(text.dtype, pd.StringDtype) and text.dtype.storage == "pyarrow") or text.empty:
        return None
    import pyarrow as pa

    strings = pa.array(text.array)
    if isinstance(strings, pa.ChunkedArray):
        strings = strings.combine_chunks()
    if strings.null_count or not (pa.types.is_string(strings.type) or pa.types.is_large_string(strings.type)):
        return None  # missing values, or a layout other than offsets and bytes (string views)
    offset_type = np.int64 if pa.types.is_large_string(strings.type) else np.int32
    _, offsets_buffer, data_buffer = strings.buffers()
    offsets = np.frombuffer(offsets_buffer, dtype=offset_type)[strings.offset : strings.offset + len(strings) + 1]
    width = int(offsets[1] - offsets[0])
    if width == 0 or not np.all(np.diff(offsets) == width):
        return None
    data = np.frombuffer(data_buffer, dtype=np.uint8)[offsets[0] : offsets[-1]]
    return data.reshape(len(strings), width)


def _place_values(fields: dict[str, tuple[int, int]], width: int) -> np.ndarray:
    """(width x fields): each digit's place value in its field's number, 0 for separators."""
    places = np.zeros((width, len(fields)))
    for k, (start, end) in enumerate(fields.values()):
        places[start:end, k] = 10 ** np.arange(end - start - 1, -1, -1)
    return places


def _seconds(fields: dict[str, np.ndarray]) -> np.ndarray | None:
    """Seconds since 1970 of valid calendar fields; None if any field is out of its range."""
    year, month, day, hour = fields["year"], fields["month"], fields["day"], fields["hour"]
    minute, second = fields["minute"], fields.get("second", np.zeros_like(year))
    if not (np.all((month >= 1) & (month <= 12)) and np.all(hour < 24) and np.all(minute < 60)):
        return None
    if not np.all(second < 60):  # a leap second (":60") is for the general parser to judge
        return None
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    if not np.all((day >= 1) & (day <= _DAYS_IN_MONTH[month - 1] + (leap & (month == 2)))):
        return None
    return _days_since_1970(year, month, day) * 86_400 + hour * 3_600 + minute * 60 + second


def _days_since_1970(year: np.ndarray, month: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Days from 1970-01-01 to a proleptic Gregorian date, in integer arithmetic (H. Hinnant's
    ``days_from_civil``: years counted from March, so the leap day ends a year)."""
    year = year - (month <= 2)
    era = year // 400
    year_of_era = year - era * 400
    day_of_year = (153 * (month + np.where(month > 2, -3, 9)) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146_097 + day_of_era - 719_468
