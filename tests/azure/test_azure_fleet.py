"""The fleet on Azure ML: the sharded step is a command job over N nodes (one process each, PyTorch
distribution, so AzureML sets RANK and WORLD_SIZE), then the merge; checked by the SDK's own
validation offline and over real HTTPS against the loopback workspace.

The loopback scripts statuses and result files (it runs no step), so what a node does with RANK is
proven by ``tests/fleet/test_fleet_input.py`` (``--shard-index auto``), not here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from azure_testkit import IMAGE
from azureml_loopback import FakeAzureML, Scenario
from typer.testing import CliRunner

from runners.azure.compile import compile_pipeline
from runners.azure.inputs import input_assets
from runners.azure.runner import AzureRunner
from runners.azure.settings import AzureSettings
from runners.base import RunRequest, Status, StepReport
from runners.cli import app
from runners.fleet_plan import estimate, load_costs, machine
from runners.spec import FLEET_SPEC, load_spec

FLEET_FILES = ("fleet_report.csv", "fleet_errors.csv", "fleet_risk.png", "fleet_model.npz", "fleet_manifest.json")


def fleet_inputs(tmp_path: Path) -> dict[str, Path]:
    folder = tmp_path / "fleet"
    folder.mkdir()
    for tid in ("T1", "T2", "T3"):
        (folder / f"{tid}.csv").write_text(f"timestamp,kw\n2024-01-01 00:00,{len(tid)}\n")
    limits = tmp_path / "limits.csv"
    limits.write_text("transformer_id,limit_kw\nT1,80\nT2,90\nT3,100\n")
    return {"data": folder, "limits": limits}


def test_the_sdk_validates_a_sharded_fleet_job_over_n_nodes(settings: AzureSettings, tmp_path: Path) -> None:
    spec = load_spec(FLEET_SPEC).with_shards(3)
    assets = input_assets(spec, fleet_inputs(tmp_path))
    job = compile_pipeline(spec, settings, {a.input: a.reference for a in assets})

    result = job._validate()
    assert result.passed, result.error_messages
    fleet, merge = job.jobs["fleet"], job.jobs["fleet-merge"]
    assert fleet.resources.instance_count == 3 and merge.resources.instance_count == 1
    assert fleet.distribution.type == "pytorch" and fleet.distribution.process_count_per_instance == 1
    assert merge.distribution is None
    assert fleet.component.command.endswith("--shard-index auto --shard-count 3")
    inputs = job._to_dict()["inputs"]
    assert inputs["data"] == {
        "type": "uri_folder",
        "path": f"azureml:gridcast-transformer-fleet-data:{assets[0].version}",
    }
    assert inputs["limits"]["type"] == "uri_file"
    assert fleet.component.environment.image == IMAGE


def test_every_fleet_node_is_on_the_stacks_cluster_and_asks_for_no_vm_size(
    settings: AzureSettings, tmp_path: Path
) -> None:
    """The cluster has one size, the stack's: the job names the cluster and no size, so no spec value can disagree."""
    spec = load_spec(FLEET_SPEC).with_shards(3)
    assert spec.steps[0].resources["azure"]["vm_size"] == "Standard_DS3_v2"  # in the spec, for the plan only
    sized = settings.model_copy(update={"compute_size": "Standard_F8s_v2"})
    job = compile_pipeline(spec, sized, {a.input: a.reference for a in input_assets(spec, fleet_inputs(tmp_path))})

    assert job.settings.default_compute == "cpu-cluster"
    assert {node.compute for node in job.jobs.values()} == {"cpu-cluster"}
    assert all(node.resources.instance_type is None for node in job.jobs.values())
    assert "Standard_" not in yaml.safe_dump(job._to_dict())  # neither the spec's size nor the stack's


@pytest.mark.parametrize(
    ("stack_size", "machine_line", "fallback_note"),
    [
        ("Standard_F8s_v2", "Standard_F8s_v2 (8 vCPU), the stack's size (the spec says Standard_DS3_v2)", False),
        ("Standard_DS3_v2", "Standard_DS3_v2 (4 vCPU), the stack's size", False),
        (None, "Standard_DS3_v2 (4 vCPU)", True),  # a stack from before the compute_size output
    ],
)
def test_the_fleet_plan_prices_the_vm_size_the_stack_exports_else_the_specs(
    stack_outputs: dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    stack_size: str | None,
    machine_line: str,
    fallback_note: bool,
) -> None:
    """As on AWS, the plan prices the machines the jobs get and says so; without the output, the spec's, with a note."""
    monkeypatch.setenv("GRIDCAST_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("COLUMNS", "300")
    stack_outputs.pop("compute_size")
    outputs_file = tmp_path / "stack-outputs.json"
    outputs_file.write_text(json.dumps(stack_outputs | ({"compute_size": stack_size} if stack_size else {})))
    paths = fleet_inputs(tmp_path)
    result = CliRunner().invoke(
        app,
        [
            *("fleet", "--backend", "azure", "--data", str(paths["data"]), "--limits", str(paths["limits"])),
            *("--stack-outputs", str(outputs_file), "--image", IMAGE),
            *("--dry-run", "--transformers", "100000", "--shards", "16"),
        ],
    )

    assert result.exit_code == 0, result.output
    job, plan = result.output.split("\nplan     ", 1)
    assert plan.splitlines()[0] == f"100,000 transformers on azure: 16 shard(s), each on one {machine_line}"
    assert ("the plan prices the spec's Standard_DS3_v2, so keep the two the same" in plan) is fallback_note
    assert "the compute cluster must allow 16 nodes" in plan
    costs = load_costs()
    box = machine(costs, "azure", load_spec(FLEET_SPEC), stack_size)
    assert f"then the merge on one {box.name}" in plan  # the cluster's VM, as the shards'
    e = estimate(costs, "azure", box, 100_000, 16, box)
    row = re.search(r"^\s+16\s+6,250\s+\S+ \S+\s+([\d,.]+)\s+[\d.]+ GiB  <- this run$", plan, re.MULTILINE)
    assert row, plan
    assert float(row[1].replace(",", "")) == pytest.approx(round(e.cost, 2))  # type: ignore[arg-type]
    size = stack_size or "not exported by the stack"
    assert f"# compute: every step on the stack's cluster cpu-cluster, VM size {size}\n" in job
    assert "compute: azureml:cpu-cluster" in job


def test_fleet_submits_over_https_follows_both_steps_and_brings_the_merged_outputs_home(
    workspace: Callable[..., FakeAzureML], runner_for: Callable[[FakeAzureML], AzureRunner], tmp_path: Path
) -> None:
    timeline = [
        {"pipeline": "Running", "fleet": "Running"},
        {"pipeline": "Running", "fleet": "Completed", "fleet-merge": "Running"},
        {"pipeline": "Completed", "fleet": "Completed", "fleet-merge": "Completed"},
    ]
    files = {name: f"{name} merged".encode() for name in FLEET_FILES}
    fake = workspace(Scenario(timeline=timeline, result_files=files))
    runner = runner_for(fake)
    paths = fleet_inputs(tmp_path)
    request = RunRequest(data=paths["data"], output_dir=tmp_path / "out", inputs=paths, shards=2)

    handle = runner.submit(load_spec(FLEET_SPEC), request)
    seen: list[StepReport] = []
    result = runner.wait(handle, seen.append)

    assert result.ok
    assert [(r.step, r.status) for r in seen] == [
        ("fleet", Status.RUNNING),
        ("fleet", Status.SUCCEEDED),
        ("fleet-merge", Status.RUNNING),
        ("fleet-merge", Status.SUCCEEDED),
    ]
    job = fake.calls("PUT", r"/jobs/[^/]+$")[0].json()["properties"]
    fleet = job["jobs"]["fleet"]
    assert fleet["resources"]["instance_count"] == 2
    assert fleet["distribution"] == {"distribution_type": "PyTorch", "process_count_per_instance": 1}
    # The folder went up file by file as one uri_folder asset; the limits as a uri_file asset.
    assets = {
        r.path.rsplit("/data/", 1)[1].split("/")[0]: r.json()["properties"]["dataType"]
        for r in fake.calls("PUT", r"/data/[^/]+/versions/[^/]+$")
    }
    assert assets == {"gridcast-transformer-fleet-data": "uri_folder", "gridcast-transformer-fleet-limits": "uri_file"}
    uploaded = {
        r.path.rsplit("/", 1)[1] for r in fake.calls("PUT", r"^/blob/stgridcastdev/gridcast/LocalUpload/") if r.body
    }
    assert {"T1.csv", "T2.csv", "T3.csv", "limits.csv"} <= uploaded
    out = runner.outputs(handle, tmp_path / "out")
    assert {f.name: f.read_bytes() for f in out} == files
    assert json.loads(handle.details["result_files"]) == list(FLEET_FILES)
