"""Every run is about one named transformer; each has its own registered model, valid on every registry."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ml.steps.registry import BUILTIN_ID, TransformerIdError, model_name, promotion_lock, transformer_id_for

AZURE_MODEL_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9\-_]{0,254}$")  # Azure ML REST API, model name pattern


def test_id_comes_from_the_option_then_the_column_then_the_file_name(tmp_path: Path) -> None:
    plain = tmp_path / "feeder-17.csv"
    plain.write_text("timestamp,kw\n2023-01-01 00:00,1\n")
    tagged = tmp_path / "export.csv"
    tagged.write_text("transformer_id,timestamp,kw\nTX 9,2023-01-01 00:00,1\nTX 9,2023-01-01 01:00,2\n")

    assert transformer_id_for(plain) == "feeder-17"
    assert transformer_id_for(tagged) == "TX 9"
    assert transformer_id_for(tagged, "TX 9") == "TX 9"
    with pytest.raises(TransformerIdError, match="column 'transformer_id' says transformer 'TX 9', but the run was"):
        transformer_id_for(tagged, "TX 10")  # the data's own column contradicts the option
    assert transformer_id_for(plain, "override") == "override"
    assert transformer_id_for(tmp_path / f"{BUILTIN_ID}.csv") == BUILTIN_ID  # the built-in data's own id


def test_a_file_with_several_transformers_is_refused(tmp_path: Path) -> None:
    mixed = tmp_path / "mixed.csv"
    mixed.write_text("transformer_id,timestamp,kw\nA,2023-01-01 00:00,1\nB,2023-01-01 00:00,2\n")
    with pytest.raises(TransformerIdError, match=r"mixed.csv: column 'transformer_id' names 2 transformers \(A, B\)"):
        transformer_id_for(mixed)


@pytest.mark.parametrize("bad", ["   ", "x" * 201, "tab\there"])
def test_unusable_ids_are_refused(bad: str, tmp_path: Path) -> None:
    with pytest.raises(TransformerIdError):
        transformer_id_for(tmp_path / "a.csv", bad)


def test_names_are_valid_deterministic_and_distinct() -> None:
    ids = ["feeder-17", "TX_9", "TX 9", "TX-9", "Umspannwerk Süd/3", "a.b", "a-b", "x" * 200, "7"]
    names = [model_name(i) for i in ids]
    assert all(AZURE_MODEL_NAME.fullmatch(n) for n in names), names
    assert len(set(names)) == len(ids)  # "TX 9" and "TX-9" do not share a model
    assert names[0] == "gridcast-feeder-17" and names[1] == "gridcast-TX_9"  # readable when the id allows
    assert model_name("TX 9") == model_name("TX 9")  # the same id always finds the same model
    assert model_name("TX 9").startswith("gridcast-TX-9--")


def test_an_id_that_looks_hashed_cannot_take_another_ids_name() -> None:
    hashed = model_name("TX 9")  # gridcast-TX-9--<16 hex>
    impostor = hashed.removeprefix("gridcast-")
    assert model_name(impostor) != hashed


def test_promotion_locks_are_per_transformer(tmp_path: Path) -> None:
    with promotion_lock(tmp_path, "gridcast-a"), promotion_lock(tmp_path, "gridcast-b"):
        pass  # a second transformer's lock is free while the first is held (same process, separate files)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gridcast-a.lock", "gridcast-b.lock"]
