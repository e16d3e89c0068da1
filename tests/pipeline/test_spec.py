"""The cloud-agnostic spec refuses wiring mistakes before any backend sees them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from runners.spec import DEFAULT_SPEC, load_spec


def variant(tmp_path: Path, edit) -> Path:  # type: ignore[no-untyped-def]
    data = yaml.safe_load(DEFAULT_SPEC.read_text())
    edit(data)
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_builtin_spec_wires_train_promote_predict() -> None:
    spec = load_spec()
    assert [s.name for s in spec.steps] == ["train", "promote", "predict"]
    promote = spec.step("promote")
    assert promote.bindings()["candidate"].step == "train"
    assert promote.exit_codes == {"3": "rejected"}
    assert spec.result_binding().step == "predict"
    values = spec.parameter_values({"transformer_id": "tx-7"})
    command = promote.render({"data": "/d.csv", "candidate": "/m"}, {"decision": "/o"}, values)
    assert command[-4:] == ["--threshold-kw", "0.0", "--transformer-id", "tx-7"]  # 0: no absolute cap
    for step in spec.steps:  # every step knows which transformer it answers for
        assert "${{parameters.transformer_id}}" in step.command
    assert "/m" in command and "/o" in command


def test_parameter_overrides_and_unknown_names() -> None:
    spec = load_spec()
    assert spec.parameter_values({"limit_kw": 120.0, "threshold_kw": None})["limit_kw"] == 120.0
    assert spec.parameter_values({"threshold_kw": None})["threshold_kw"] == 0.0
    assert spec.parameter_values({"threshold_kw": 3.0})["threshold_kw"] == 3.0  # the seed's gate, on request
    with pytest.raises(ValueError, match="unknown pipeline parameter"):
        spec.parameter_values({"limt_kw": 1})


def test_binding_to_a_later_step_is_refused(tmp_path: Path) -> None:
    def edit(data: dict) -> None:
        data["steps"][0]["inputs"]["data"] = "steps.predict.outputs.predictions"

    with pytest.raises(ValidationError, match=re.escape("no earlier step output 'predict.outputs.predictions'")):
        load_spec(variant(tmp_path, edit))


def test_undeclared_placeholder_is_refused(tmp_path: Path) -> None:
    def edit(data: dict) -> None:
        data["steps"][2]["command"].append("${{parameters.voltage}}")

    with pytest.raises(ValidationError, match=re.escape("step 'predict' command uses undeclared parameters.voltage")):
        load_spec(variant(tmp_path, edit))


def test_unknown_keys_are_refused(tmp_path: Path) -> None:
    def edit(data: dict) -> None:
        data["steps"][0]["gpu"] = True

    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        load_spec(variant(tmp_path, edit))
