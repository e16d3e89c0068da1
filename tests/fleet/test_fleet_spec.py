"""The fleet spec declares sharding; the spec model validates it without changing pipeline.yaml."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from runners.spec import DEFAULT_SPEC, load_spec

FLEET_SPEC = Path(__file__).resolve().parents[2] / "runners" / "fleet.yaml"


def variant(tmp_path: Path, edit, source: Path = FLEET_SPEC) -> Path:  # type: ignore[no-untyped-def]
    data = yaml.safe_load(source.read_text())
    edit(data)
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_fleet_spec_shards_the_fleet_step_and_merges() -> None:
    spec = load_spec(FLEET_SPEC)
    fleet, merge = spec.steps
    assert fleet.shards is not None and fleet.shards.count == 4
    assert fleet.resources["aws"]["instance_count"] == 4 and fleet.resources["azure"]["instance_count"] == 4
    assert merge.shards is None and merge.bindings()["parts"].step == "fleet"
    commands = fleet.render_shards({"data": "/d", "limits": "/l"}, {"parts": "/p"}, spec.parameter_values(), count=3)
    assert [c[-4:] for c in commands] == [["--shard-index", str(i), "--shard-count", "3"] for i in range(3)]
    assert merge.render_shards({"parts": "/p"}, {"report": "/r"}, {}) == [
        merge.render({"parts": "/p"}, {"report": "/r"}, {})
    ]
    assert load_spec(DEFAULT_SPEC).steps[0].shards is None  # the main pipeline is untouched


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d["steps"][0].update(shards={"count": 0}), "greater than or equal to 1"),
        (lambda d: d["steps"][0]["command"].pop(), "does not use ${{parameters.shard_count}}"),
        (lambda d: d["steps"][0].pop("shards"), "step 'fleet' command uses undeclared parameters.shard_index"),
        (lambda d: d["parameters"].update(shard_count={"type": "integer", "default": 1}), "reserved for sharded steps"),
        (lambda d: d["steps"][0].update(shards={"count": 2, "by": "x"}), "Extra inputs are not permitted"),
    ],
)
def test_bad_sharding_is_refused(tmp_path: Path, edit, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationError, match=message.replace("$", r"\$").replace("{", r"\{").replace("}", r"\}")):
        load_spec(variant(tmp_path, edit))


def test_shard_placeholders_are_refused_in_an_unsharded_pipeline(tmp_path: Path) -> None:
    def edit(data: dict) -> None:
        data["steps"][2]["command"] += ["--shard-index", "${{parameters.shard_index}}"]

    with pytest.raises(ValidationError, match=r"step .predict. command uses undeclared parameters\.shard_index"):
        load_spec(variant(tmp_path, edit, DEFAULT_SPEC))
