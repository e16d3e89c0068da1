"""The gate holds for any transformer: 10 kW to 2 MW, noise 0.5% to 5% of load; broken models fail it."""

from __future__ import annotations

import pytest
from transformers import series_of, shuffled, truth

from ml.model import SeasonalTrendForecaster
from ml.steps.promote import Gate, challenger_scores, judge


def fitted(series):  # type: ignore[no-untyped-def]
    return SeasonalTrendForecaster().fit(series.index, series.to_numpy())


@pytest.mark.parametrize("size_kw", [10.0, 450.0, 2000.0])
@pytest.mark.parametrize("noise_share", [0.005, 0.05])
def test_a_right_model_is_promoted_at_any_size_and_noise(size_kw: float, noise_share: float) -> None:
    series = series_of(truth(size_kw, noise_share), seed=int(size_kw))
    promoted, reason = judge(challenger_scores(fitted(series), series), None, Gate())
    assert promoted, reason
    assert "below the seasonal-naive" in reason


@pytest.mark.parametrize("size_kw", [10.0, 450.0, 2000.0])
@pytest.mark.parametrize("noise_share", [0.005, 0.05])
def test_a_model_fitted_to_shuffled_readings_is_rejected(size_kw: float, noise_share: float) -> None:
    series = series_of(truth(size_kw, noise_share), seed=int(size_kw))
    promoted, reason = judge(challenger_scores(fitted(shuffled(series)), series), None, Gate())
    assert not promoted
    assert "they were not fitted to this transformer's data" in reason


@pytest.mark.parametrize(("trained_on", "judged_on"), [(10.0, 450.0), (380.0, 450.0), (2000.0, 450.0)])
def test_another_transformers_model_is_rejected(trained_on: float, judged_on: float) -> None:
    """Even one of nearly the same size: the weights are scored as they are, not refitted."""
    other = series_of(truth(trained_on, 0.02), seed=2)
    series = series_of(truth(judged_on, 0.02), seed=1)
    promoted, reason = judge(challenger_scores(fitted(other), series), None, Gate())
    assert not promoted
    assert "not fitted to this transformer's data" in reason


def test_the_seeds_absolute_cap_is_still_available() -> None:
    """--threshold-kw 3.0 reproduces the seed's gate; by default there is no cap, so a 2 MW transformer passes."""
    series = series_of(truth(2000.0, 0.01), seed=9)
    scores = challenger_scores(fitted(series), series)
    assert scores.rmse > 3.0
    assert judge(scores, None, Gate())[0]
    promoted, reason = judge(scores, None, Gate(threshold_kw=3.0))
    assert not promoted and reason.endswith("is above the cap 3.000 kW")


def test_the_seasonal_naive_yardstick_reads_the_hour_a_week_earlier_even_across_gaps() -> None:
    """The week-earlier hour is found by position on the validated hourly index, as a lookup would find it."""
    import numpy as np
    import pandas as pd

    from ml.evaluate import chronological_split, seasonal_naive_rmse
    from ml.validation import validate_load

    stamps = pd.date_range("2023-01-01", periods=24 * 500, freq="h")
    kw = 50 + 10 * np.sin(2 * np.pi * np.arange(len(stamps)) / 24) + np.random.default_rng(5).normal(0, 1, len(stamps))
    raw = pd.DataFrame({"timestamp": stamps.strftime("%Y-%m-%d %H:%M"), "kw": np.round(kw, 2).astype(str)})
    raw = raw.drop(index=[*range(10600, 10610), 11000, 11300])  # gaps in and a week before the test window
    series, _ = validate_load(raw, "gaps.csv")
    test = chronological_split(series).test
    earlier = series.reindex(test.index - pd.Timedelta(hours=168))
    known = earlier.notna().to_numpy()
    expected = float(np.sqrt(np.mean((test.to_numpy()[known] - earlier.to_numpy()[known]) ** 2)))
    assert seasonal_naive_rmse(series) == expected
    assert not known.all()  # the gaps a week back are left out, not read as zero
