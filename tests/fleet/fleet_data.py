"""The test fleet's known truth: one fast grower, one flat, a few in between, one with bad data."""

from __future__ import annotations

import pandas as pd

from ml.synthetic import synthetic_load

YEARS = 1.3  # 11,388 hours: just over the 10,950 the validation asks for, so tests stay fast
GROWTH = {"FAST": 15.0, "FLAT": 0.0, "MID1": 4.0, "MID2": 6.0, "MID3": 2.0, "SLOW": 1.0}
LIMITS = {"FAST": 85.0, "FLAT": 85.0, "MID1": 80.0, "MID2": 95.0, "MID3": 70.0, "SLOW": 90.0, "BAD": 85.0}


def transformer_frame(tid: str) -> pd.DataFrame:
    growth = GROWTH.get(tid, 2.0)
    frame = synthetic_load(years=YEARS, base_kw=55.0, growth_kw_per_year=growth, seed=sum(map(ord, tid)))  # type: ignore[arg-type]
    if tid == "BAD":
        frame["kw"] = frame["kw"].astype(object)
        frame.loc[100, "kw"] = -5.0  # a negative reading: refused by validation
    return frame
