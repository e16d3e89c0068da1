"""The 100,000-transformer plan: wall time from the measured per-transformer cost, cost from the
price table kept in the repo, shown by `runner fleet --dry-run` without touching any cloud."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ml.steps.fleet_input import count_transformers
from runners import cli
from runners.fleet_plan import COSTS, Machine, estimate, load_costs, machine, merge_machine
from runners.spec import FLEET_SPEC, load_spec

COSTS_FOR_TEST = {
    "measured": {"core_ms_per_transformer": 100.0, "base_gib": 0.5, "gib_per_1000": 1.0,
                 "merge_ms_per_transformer": 1.0, "parallel_efficiency": 1.0},
    "startup_s": {"aws": 60, "azure": 60, "local": 0},
}  # fmt: skip


def test_wall_time_and_cost_follow_the_measured_cost_and_the_price() -> None:
    box = Machine("m", vcpus=4, memory_gib=16, per_hour=1.0)
    one = estimate(COSTS_FOR_TEST, "aws", box, 100_000, 10)
    # 10,000 per shard x 0.1 core-s / 4 cores = 250 s of work, + 60 s start-up, then merge 60 + 100 s
    assert one.per_shard == 10_000 and one.wall_s == pytest.approx(60 + 250 + 60 + 100)
    assert one.cost == pytest.approx(10 * 310 / 3600 * 1.0 + 160 / 3600 * 0.5)
    assert one.memory_gib == pytest.approx(10.5)
    more = estimate(COSTS_FOR_TEST, "aws", box, 100_000, 100)
    assert more.wall_s < one.wall_s and more.memory_gib == pytest.approx(1.5)
    local = estimate(COSTS_FOR_TEST, "local", box, 1_000, 4)  # local shards share one machine's cores
    assert local.wall_s == pytest.approx(1_000 * 0.1 / 4 + 1.0)


def test_the_price_table_is_dated_and_sourced_and_prices_the_spec_instances() -> None:
    costs = load_costs()
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", costs["prices"]["date"]) and "https://" in costs["prices"]["source"]
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", costs["measured"]["date"]) and costs["measured"]["source"]
    spec = load_spec(FLEET_SPEC)
    assert machine(costs, "aws", spec).name == spec.steps[0].resources["aws"]["instance_type"]
    assert machine(costs, "azure", spec).name == spec.steps[0].resources["azure"]["vm_size"]


def test_transformers_are_counted_from_names_or_the_id_column(fleet_files: dict[str, Path]) -> None:
    assert count_transformers(fleet_files["folder"]) == 7
    assert count_transformers(fleet_files["long"]) == 7


@pytest.mark.parametrize("stack_size", [None, "ml.c5.2xlarge"])
def test_aws_dry_run_for_100000_transformers_prints_the_plan_and_calls_nothing(
    fleet_files: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stack_size: str | None
) -> None:
    """The plan prices the machines the jobs get: the stack's compute size, when it sets one, wins over the spec's."""
    monkeypatch.setenv("GRIDCAST_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("COLUMNS", "300")
    stack = tmp_path / "stack.json"
    bucket = "gridcast-test-bucket"
    stack.write_text(
        json.dumps(
            {
                "region": "eu-west-1", "name_prefix": "gridcast-test", "bucket": bucket,
                "execution_role_arn": "arn:aws:iam::123456789012:role/r",
                "mlflow_tracking_uri": "arn:aws:sagemaker:eu-west-1:123456789012:mlflow-tracking-server/t",
                "data_uri": f"s3://{bucket}/data/", "outputs_uri": f"s3://{bucket}/outputs/",
            } | ({"compute_target": stack_size} if stack_size else {})
        )
    )  # fmt: skip
    result = CliRunner().invoke(
        cli.app,
        [
            *(
                "fleet",
                "--backend",
                "aws",
                "--data",
                str(fleet_files["folder"]),
                "--limits",
                str(fleet_files["limits"]),
            ),
            *("--stack-outputs", str(stack), "--image", f"r@sha256:{'a' * 64}", "--endpoint-url", "http://127.0.0.1:9"),
            *("--dry-run", "--transformers", "100000", "--shards", "64"),
        ],
    )

    assert result.exit_code == 0, result.output
    if stack_size is None:
        assert "plan     100,000 transformers on aws: 64 shard(s), each on one ml.m5.xlarge (4 vCPU)\n" in result.output
    else:
        assert (
            "plan     100,000 transformers on aws: 64 shard(s), each on one ml.c5.2xlarge (8 vCPU), "
            "the stack's size (the spec says ml.m5.xlarge)" in result.output
        )
        assert '"InstanceType": "ml.c5.2xlarge"' in result.output  # what the compiled jobs run on
    row = re.search(r"^\s+64\s+1,563\s+(\S+ \S+)\s+([\d,.]+)\s+[\d.]+ GiB  <- this run$", result.output, re.MULTILINE)
    assert row, result.output
    costs = load_costs(COSTS)
    spec = load_spec(FLEET_SPEC)
    box = machine(costs, "aws", spec, stack_size)
    merge = merge_machine(costs, "aws", spec, stack_size, box)  # the stack's size runs the merge too
    assert merge.name == (stack_size or "ml.m5.large") and f"then the merge on one {merge.name}" in result.output
    e = estimate(costs, "aws", box, 100_000, 64, merge)
    assert float(row[2].replace(",", "")) == pytest.approx(round(e.cost, 2))  # type: ignore[arg-type]
    assert costs["prices"]["date"] in result.output and "InstanceCount" in result.output
    assert not (tmp_path / "state" / "handles").exists()
