"""The fleet on Azure ML: the sharded step is a command job over N nodes (one process each, PyTorch
distribution, so AzureML sets RANK and WORLD_SIZE), then the merge; checked by the SDK's own
validation offline and over real HTTPS against the loopback workspace.

The loopback scripts statuses and result files (it runs no step), so what a node does with RANK is
proven by ``tests/fleet/test_fleet_input.py`` (``--shard-index auto``), not here.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from azure_testkit import IMAGE
from azureml_loopback import FakeAzureML, Scenario

from runners.azure.compile import compile_pipeline
from runners.azure.inputs import input_assets
from runners.azure.runner import AzureRunner
from runners.azure.settings import AzureSettings
from runners.base import RunRequest, Status, StepReport
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
