"""One transformer's model never answers for another, against a real (embedded SQLite) registry."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from mlflow.tracking import MlflowClient
from transformers import series_of, shuffled, truth, write_csv

import ml.steps.promote as promote_module
from ml.model import SeasonalTrendForecaster
from ml.steps.model_store import LineageError, champion, mark_promoted
from ml.steps.predict import NoChampionError, predict
from ml.steps.promote import promote
from ml.steps.train import train


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_csv(series_of(truth(60.0, 0.03), seed=60), tmp_path_factory.mktemp("d") / "pole-60kw.csv")


@pytest.fixture(scope="module")
def large(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_csv(series_of(truth(450.0, 0.03), seed=450), tmp_path_factory.mktemp("d") / "feeder-450kw.csv")


def test_a_rejected_challenger_never_borrows_another_transformers_champion(
    state: Path, small: Path, large: Path, tmp_path: Path
) -> None:
    """The issue's scenario: the 60 kW transformer has a champion, the 450 kW one's challenger is broken."""
    train(small, tmp_path / "m60", SeasonalTrendForecaster())
    assert promote(small, tmp_path / "m60", tmp_path / "d60").promoted
    broken = write_csv(shuffled(series_of(truth(450.0, 0.03), seed=450)), tmp_path / "shuffled.csv")
    train(broken, tmp_path / "m450", SeasonalTrendForecaster(), transformer_id="feeder-450kw")

    decision = promote(large, tmp_path / "m450", tmp_path / "d450")

    assert not decision.promoted and "not fitted to this transformer's data" in decision.reason
    assert decision.champion_version is None
    with pytest.raises(NoChampionError) as caught:
        predict(large, tmp_path / "out", decision_dir=tmp_path / "d450")
    assert str(caught.value).startswith("transformer 'feeder-450kw' has no champion in 'gridcast-feeder-450kw' yet")
    assert "The challenger was rejected: the registered weights score" in str(caught.value)
    assert not (tmp_path / "out").exists()
    assert champion("gridcast-pole-60kw") is not None  # the other transformer's champion is untouched


def test_a_model_or_decision_of_another_transformer_is_refused(
    state: Path, small: Path, large: Path, tmp_path: Path
) -> None:
    train(small, tmp_path / "m60", SeasonalTrendForecaster())
    promote(small, tmp_path / "m60", tmp_path / "d60")

    with pytest.raises(LineageError, match="the candidate was trained for transformer 'pole-60kw', but this data is"):
        promote(large, tmp_path / "m60", tmp_path / "dx")
    with pytest.raises(LineageError, match="the promote decision is for transformer 'pole-60kw', but this data is"):
        predict(large, tmp_path / "out", decision_dir=tmp_path / "d60")
    # A version whose lineage tag says otherwise is refused even under the right name.
    MlflowClient().set_model_version_tag("gridcast-pole-60kw", "1", "transformer_id", "feeder-450kw")
    with pytest.raises(LineageError, match="was trained for transformer 'feeder-450kw', not 'pole-60kw'"):
        predict(small, tmp_path / "out", decision_dir=tmp_path / "d60")
    assert not (tmp_path / "out").exists()


def test_a_champion_promoted_meanwhile_is_not_replaced_by_a_worse_challenger(
    state: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another machine promotes the better v1 right after this promote read "no champion" (no shared lock
    between machines): the re-check before the write sees it, and the worse v2 is judged against it."""
    series = series_of(truth(60.0, 0.03), seed=60)
    richer = series + 0.03 * 60.0 * np.cos(4 * np.pi * series.index.hour / 24)  # a daily shape v2 cannot follow
    data = write_csv(richer, tmp_path / "pole-60kw.csv")
    train(data, tmp_path / "good", SeasonalTrendForecaster())  # v1: the full daily shape
    train(data, tmp_path / "weak", SeasonalTrendForecaster(daily_order=1))  # v2: beats naive, not v1
    name = "gridcast-pole-60kw"
    reads = []

    def champion_then_someone_promotes(model: str):  # type: ignore[no-untyped-def]
        found = champion(model)
        reads.append(found)
        if len(reads) == 1:
            mark_promoted(name, "1", 1)  # the concurrent promotion, just after this read
        return found

    monkeypatch.setattr(promote_module, "champion", champion_then_someone_promotes)
    decision = promote(data, tmp_path / "weak", tmp_path / "d")

    assert reads[0] is None and reads[1] is not None and reads[1].version == "1"
    assert not decision.promoted
    assert "worse than the champion's" in decision.reason
    assert decision.previous_champion_version == "1" and decision.champion_version == "1"
    assert champion(name).version == "1"  # type: ignore[union-attr]
    assert MlflowClient().get_model_version(name, "2").tags["gate.decision"] == "rejected"
    assert json.loads((tmp_path / "d" / "decision.json").read_text())["champion_version"] == "1"


def test_outputs_are_replaced_whole_or_not_at_all(
    state: Path, small: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    train(small, tmp_path / "m", SeasonalTrendForecaster())
    promote(small, tmp_path / "m", tmp_path / "d")
    out = tmp_path / "out"
    first = predict(small, out, decision_dir=tmp_path / "d")
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    class FullDisk:
        def savefig(self, path: Path) -> None:
            Path(path).write_bytes(b"\x89PNG partial")
            raise OSError(28, "No space left on device")

    monkeypatch.setattr("ml.steps.predict.forecast_figure", lambda *a, **k: FullDisk())
    monkeypatch.setattr("ml.steps.predict.plt.close", lambda figure: None)
    with pytest.raises(OSError, match="No space left on device"):
        predict(small, out, limit_kw=70.0, decision_dir=tmp_path / "d")

    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # the previous run's files, whole
    assert json.loads((out / "overload_report.json").read_text())["run_id"] == first["run_id"]


def test_concurrent_promotions_of_one_transformer_end_with_the_better_champion(state: Path, tmp_path: Path) -> None:
    """Two promote processes at once, a good and a worse challenger: in either order the good one wins."""
    series = series_of(truth(60.0, 0.03), seed=61)
    data = write_csv(series + 0.03 * 60.0 * np.cos(4 * np.pi * series.index.hour / 24), tmp_path / "pole-61.csv")
    train(data, tmp_path / "good", SeasonalTrendForecaster())  # v1
    train(data, tmp_path / "weak", SeasonalTrendForecaster(daily_order=1))  # v2
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}

    def start(candidate: str) -> subprocess.Popen[str]:
        command = [sys.executable, "-m", "ml.steps", "promote", "--data", str(data), "--candidate"]
        command += [str(tmp_path / candidate), "--decision-out", str(tmp_path / f"d-{candidate}")]
        return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    processes = [start("good"), start("weak")]
    codes = [p.wait(timeout=300) for p in processes]

    assert codes[0] == 0 and codes[1] in (0, 3), [p.communicate() for p in processes]
    assert champion("gridcast-pole-61").version == "1"  # type: ignore[union-attr]
    weak = json.loads((tmp_path / "d-weak" / "decision.json").read_text())
    good = json.loads((tmp_path / "d-good" / "decision.json").read_text())
    assert good["promoted"] and good["champion_version"] == "1"
    # The weak one was either judged against v1 and rejected, or promoted first and then replaced by v1.
    assert (not weak["promoted"] and weak["champion_version"] == "1") or good["previous_champion_version"] == "2"
