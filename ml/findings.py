"""What the model decided on its own, in the words of a report: one builder for the single run's
``overload_report.json`` and the fleet's rows, so both say the same thing the same way.

Pure: a fitted :class:`~ml.model.SeasonalTrendForecaster` (and a horizon) in, plain values out.
"""

from __future__ import annotations

import pandas as pd

from ml.model import SeasonalTrendForecaster


def model_findings(model: SeasonalTrendForecaster, horizon: pd.DatetimeIndex, limit_kw: float) -> dict[str, object]:
    """What the model decided on its own: growth shape (and what the other shape would say), steps, faults."""
    runner_up_over = model.predict_runner_up(horizon) > limit_kw
    runner_up_first = horizon[runner_up_over][0].isoformat() if runner_up_over.any() else None
    zone = getattr(model, "timezone", None)
    return {
        "structure": getattr(model, "structure_", "fourier"),
        "structure_selection": getattr(model, "structure_selection_", {}),
        "holidays": getattr(model, "holidays", None),
        "timezone": zone,
        "timestamps": "UTC" if zone else "as in the data (no time zone given)",
        "trend": model.trend_,
        "trend_selection": model.trend_selection_
        | {"runner_up_first_overload_at": runner_up_first, "weights": trend_weights(model)},
        "growth_pct_per_year": round(model.growth_pct_per_year_, 3),
        "level_shifts": model.level_shifts_,
        "sensor_faults": {"spike_hours": model.spike_hours_, "flatline_hours": model.flatline_hours_},
    }


def trend_weights(model: SeasonalTrendForecaster) -> dict[str, float]:
    """Each growth form's BIC weight: the P10-P90 draws mix both forms by it (the chosen form alone
    when the runner-up's is under 1%, and for a model saved before forms were mixed)."""
    weights = getattr(model, "trend_weights_", None) or {model.trend_: 1.0, model.runner_up_trend_: 0.0}
    return {kind: round(float(weight), 4) for kind, weight in weights.items()}


def sensor_repairs(model: SeasonalTrendForecaster) -> list[str]:
    """Sentences for the faults the model left out of its fit, in the style of the data repairs."""
    notes = []
    if model.flatline_hours_:
        notes.append(f"{model.flatline_hours_} flat-lined hours (stuck sensor) left out of the fit")
    if model.spike_hours_:
        notes.append(f"{model.spike_hours_} spike readings left out of the fit")
    return notes


def chosen_weight(model: SeasonalTrendForecaster) -> float:
    """The chosen growth form's weight (1 when the form was fixed): below 1, the P10-P90 mixes both."""
    return trend_weights(model)[model.trend_]
