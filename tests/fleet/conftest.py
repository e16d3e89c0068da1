"""Fixtures for the fleet tests: the test fleet written as a folder, a long CSV and a limits CSV."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from fleet_data import LIMITS, transformer_frame


@pytest.fixture(scope="session")
def fleet_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The same fleet as a folder of <id>.csv, as one long CSV, and its limits CSV."""
    root = tmp_path_factory.mktemp("fleet")
    folder = root / "folder"
    folder.mkdir()
    frames = []
    for tid in LIMITS:
        frame = transformer_frame(tid)
        frame.to_csv(folder / f"{tid}.csv", index=False)
        frames.append(frame.assign(transformer_id=tid)[["transformer_id", "timestamp", "kw"]])
    long = root / "long.csv"
    pd.concat(frames).to_csv(long, index=False)
    limits = root / "limits.csv"
    pd.DataFrame({"transformer_id": list(LIMITS), "limit_kw": list(LIMITS.values())}).to_csv(limits, index=False)
    return {"folder": folder, "long": long, "limits": limits, "root": root}
