"""The data files' reader: Arrow's CSV reader for plain files, pandas for the rest, the same table either way."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from ml.steps.data_io import _plain_csv, read_text_csv
from ml.validation import DataValidationError

HOURS = "\n".join(f"2024-01-{1 + h // 24:02d} {h % 24:02d}:00,{40 + h % 7}.{h % 100:02d}" for h in range(200))
FILES = {
    "plain": (b"timestamp,kw\n" + HOURS.encode() + b"\n", True),
    "no final newline": (b"timestamp,kw\n" + HOURS.encode(), True),
    "crlf": (b"timestamp,kw\r\n" + HOURS.replace("\n", "\r\n").encode() + b"\r\n", True),
    "long format": (
        b"transformer_id,timestamp,kw\n" + b"\n".join(b"T1," + line.encode() for line in HOURS.split("\n")),
        True,
    ),
    "spaces kept": (b"timestamp,kw\n2024-01-01 00:00, 42\n 2024-01-01 01:00,43 \n", True),
    "byte order mark": (b"\xef\xbb\xbftimestamp,kw\n" + HOURS.encode(), False),
    "quoted": (b'"timestamp","kw"\n"2024-01-01 00:00","42"\n', False),
    "quoted values": (b'timestamp,kw\n"2024-01-01 00:00","42"\n2024-01-01 01:00,"4,3"\n', True),
    "empty value": (b"timestamp,kw\n2024-01-01 00:00,\n2024-01-01 01:00,43\n", False),
    "missing-value words": (b"timestamp,kw\n2024-01-01 00:00,NA\n2024-01-01 01:00,null\n2024-01-01 02:00,n/a\n", False),
    "blank line": (b"timestamp,kw\n2024-01-01 00:00,42\n\n2024-01-01 02:00,44\n", False),
    "trailing blank lines": (b"timestamp,kw\n2024-01-01 00:00,42\n\n\n", False),
    "repeated name": (b"timestamp,kw,kw\n2024-01-01 00:00,42,43\n", False),
    "empty name": (b"timestamp,kw,\n2024-01-01 00:00,42,\n", False),
    "short row": (b"timestamp,kw\n2024-01-01 00:00\n2024-01-01 01:00,43\n", False),
    "header only": (b"timestamp,kw\n", True),
    "one column": (b"kw\n42\n43\n", True),
    "latin-1 bytes": (b"timestamp,kw\n2024-01-01 00:00,42\xb0\n", False),
}


@pytest.mark.parametrize("name", sorted(FILES))
def test_the_table_is_what_pandas_reads(tmp_path: Path, name: str) -> None:
    content, plain = FILES[name]
    path = tmp_path / "load.csv"
    path.write_bytes(content)
    assert (_plain_csv(path) is not None) == plain, "which reader takes the file"
    try:
        expected = pd.read_csv(path, dtype=str, skip_blank_lines=False)
    except (pd.errors.ParserError, UnicodeDecodeError):
        with pytest.raises(DataValidationError, match="not a readable CSV file"):
            read_text_csv(path)
        return
    table = read_text_csv(path)
    pd.testing.assert_frame_equal(table, expected)
    assert list(table.dtypes) == list(expected.dtypes)


def test_a_row_with_too_many_fields_is_refused_as_pandas_refuses_it(tmp_path: Path) -> None:
    path = tmp_path / "load.csv"
    path.write_bytes(b"timestamp,kw\n2024-01-01 00:00,42\n2024-01-01 01:00,43,44\n")
    assert _plain_csv(path) is None
    with pytest.raises(DataValidationError, match=r"load\.csv: not a readable CSV file .*line 3"):
        read_text_csv(path)
