"""The azure runner against a loopback AzureML workspace: real azure-ai-ml over real HTTPS.

Proves: the requests the runner makes (URLs, api-versions, bodies: data asset, image, compute,
identity, bindings), that the same data is not uploaded twice, status streaming, the failure,
validation-refusal and cancellation paths, and that results come back through the SDK's download.

Does not prove (see runners/azure/README.md): that AzureML accepts these bodies (the fake echoes
them), Entra ID sign-in (a fake credential), blob storage's host names (path-style loopback, see
the ``workspace`` fixture), or that the steps run in the image on the cluster.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from azure_testkit import IMAGE, JOB_IDENTITY, SUBSCRIPTION, FakeCredential
from azureml_loopback import FakeAzureML, Recorded, Scenario

from runners.azure.compile import content_version
from runners.azure.runner import AzureRunError, AzureRunner
from runners.base import RESULT_FILES, RunHandle, RunRequest, Status, StepReport
from runners.spec import load_spec

Start = Callable[..., FakeAzureML]
RunnerFor = Callable[[FakeAzureML], AzureRunner]


def _request(data: Path, tmp_path: Path, **parameters: float) -> RunRequest:
    return RunRequest(data=data, output_dir=tmp_path / "out", parameters=parameters)


def _only(calls: list[Recorded]) -> Recorded:
    assert len(calls) == 1, [c.path for c in calls]
    return calls[0]


def _submitted_job(fake: FakeAzureML) -> dict:
    return _only(fake.calls("PUT", r"/jobs/[^/]+$")).json()["properties"]


def test_submit_uploads_data_and_sends_the_compiled_pipeline(
    workspace: Start, runner_for: RunnerFor, credential: FakeCredential, load_csv: Path, tmp_path: Path
) -> None:
    fake = workspace()
    handle = runner_for(fake).submit(load_spec(), _request(load_csv, tmp_path, limit_kw=90.0))
    version = content_version(load_csv)

    # The data asset: looked up by content version, uploaded as a blob, then registered.
    lookup = fake.calls("GET", rf"/data/transformer-load-data/versions/{version}$")
    assert lookup and lookup[0].query["api-version"] == ["2023-04-01-preview"]
    upload = _only([r for r in fake.calls("PUT", r"^/blob/stgridcastdev/gridcast/LocalUpload/") if r.body])
    assert upload.body == load_csv.read_bytes()
    asset = _only(fake.calls("PUT", rf"/data/transformer-load-data/versions/{version}$")).json()["properties"]
    assert asset["dataType"] == "uri_file"
    assert asset["dataUri"].startswith("azureml://")
    assert asset["dataUri"].endswith(f"/datastores/gridcast/paths/{upload.path.split('/gridcast/', 1)[1]}")

    # The image becomes an environment; each step a command component running the spec's command in it.
    environment = _only(
        list({r.path: r for r in fake.calls("PUT", r"/environments/CliV2AnonymousEnvironment/")}.values())
    )
    assert environment.json()["properties"]["image"] == IMAGE
    components = {
        r.json()["properties"]["componentSpec"]["command"].split()[3]: r for r in fake.calls("PUT", r"/components/")
    }
    assert sorted(components) == ["predict", "promote", "train"]
    for component in components.values():
        assert component.json()["properties"]["componentSpec"]["environment"] == f"azureml:{environment.path}"
    assert components["train"].json()["properties"]["componentSpec"]["outputs"]["model"]["type"] == "mlflow_model"

    # The pipeline job itself: data asset, parameters, result output, and per step compute, identity, component.
    put = _only(fake.calls("PUT", r"/jobs/[^/]+$"))
    assert put.query["api-version"] == ["2024-01-01-preview"]
    job = put.json()["properties"]
    assert job["jobType"] == "Pipeline"
    assert job["experimentName"] == "transformer-load"
    workspace_id = (
        f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-gridcast-dev"
        "/providers/Microsoft.MachineLearningServices/workspaces/mlw-gridcast-dev"
    )
    assert job["inputs"]["data"] == {
        "uri": f"{workspace_id}/data/transformer-load-data/versions/{version}",
        "jobInputType": "uri_file",
    }
    assert job["inputs"]["limit_kw"] == {"value": "90.0", "jobInputType": "literal"}
    assert job["inputs"]["threshold_kw"] == {"value": "0.0", "jobInputType": "literal"}  # 0: no absolute cap
    assert job["outputs"]["predictions"] == {
        "uri": "azureml://datastores/gridcast/paths/outputs/${{name}}/predictions/",
        "jobOutputType": "uri_folder",
    }
    assert job["settings"]["force_rerun"] is True
    for step, component in components.items():
        node = job["jobs"][step]
        assert node["computeId"] == f"{workspace_id}/computes/cpu-cluster"
        assert node["identity"] == {"client_id": JOB_IDENTITY, "identity_type": "Managed"}
        assert node["componentId"] == component.path
    assert job["jobs"]["promote"]["inputs"]["candidate"] == {
        "value": "${{parent.jobs.train.outputs.model}}",
        "job_input_type": "literal",
    }
    assert job["jobs"]["predict"]["inputs"]["decision"]["value"] == "${{parent.jobs.promote.outputs.decision}}"
    assert job["jobs"]["predict"]["outputs"]["predictions"]["value"] == "${{parent.outputs.predictions}}"

    # Validation asked the workspace whether the compute exists, before the job was sent.
    compute_checks = fake.calls("GET", r"/computes/cpu-cluster$")
    assert compute_checks and fake.requests.index(compute_checks[0]) < fake.requests.index(put)

    # Every management call carried the credential's token for the (overridden) ARM endpoint.
    assert all(r.headers["Authorization"].startswith("Bearer ey") for r in fake.calls("PUT", r"^/subscriptions/"))
    assert f"{fake.url}/.default" in credential.scopes
    assert handle.run_id == put.path.rsplit("/", 1)[1]
    assert handle.details["studio_url"].startswith(f"https://ml.azure.com/runs/{handle.run_id}?wsid=")
    assert fake.unhandled == []


def test_the_same_data_is_not_uploaded_twice(
    workspace: Start, runner_for: RunnerFor, load_csv: Path, tmp_path: Path
) -> None:
    fake = workspace(Scenario(registered_data={content_version(load_csv)}))
    runner_for(fake).submit(load_spec(), _request(load_csv, tmp_path))
    assert fake.calls("PUT", r"/data/") == []
    assert fake.calls("PUT", r"^/blob/") == []
    assert _submitted_job(fake)["inputs"]["data"]["uri"].endswith(
        f"/workspaces/mlw-gridcast-dev/data/transformer-load-data/versions/{content_version(load_csv)}"
    )


def test_wait_streams_step_status_and_outputs_come_back(
    workspace: Start, runner_for: RunnerFor, load_csv: Path, tmp_path: Path, result_files: dict[str, bytes]
) -> None:
    fake = workspace(Scenario(result_files=result_files))
    runner = runner_for(fake)
    handle = runner.submit(load_spec(), _request(load_csv, tmp_path))
    seen: list[StepReport] = []
    result = runner.wait(handle, seen.append)

    assert result.ok
    assert [(r.step, r.status) for r in seen] == [
        ("train", Status.RUNNING),
        ("train", Status.SUCCEEDED),
        ("promote", Status.RUNNING),
        ("promote", Status.SUCCEEDED),
        ("predict", Status.RUNNING),
        ("predict", Status.SUCCEEDED),
    ]
    files = runner.outputs(handle, tmp_path / "out")
    assert [f.name for f in files] == list(RESULT_FILES)
    assert {f.name: f.read_bytes() for f in files} == result_files
    listing = _only(fake.calls("GET", r"^/blob/stgridcastdev/gridcast$"))
    assert listing.query["prefix"] == [f"outputs/{handle.run_id}/predictions/"]


def test_a_queued_step_says_so(workspace: Start, runner_for: RunnerFor, load_csv: Path, tmp_path: Path) -> None:
    fake = workspace(Scenario(timeline=[{"pipeline": "Running", "train": "Queued"}, {"pipeline": "Completed"}]))
    runner = runner_for(fake)
    seen: list[StepReport] = []
    runner.wait(runner.submit(load_spec(), _request(load_csv, tmp_path)), seen.append)
    assert seen[0] == StepReport("train", Status.PENDING, "Queued")


def test_a_failed_step_reports_its_error_and_log_tail(
    workspace: Start, runner_for: RunnerFor, load_csv: Path, tmp_path: Path
) -> None:
    log = "".join(f"line {i}\n" for i in range(30)) + "error: load.csv line 7: kw is not a number\n"
    fake = workspace(
        Scenario(
            timeline=[
                {"pipeline": "Running", "train": "Running"},
                {"pipeline": "Failed", "train": "Failed"},
            ],
            errors={"train": "Execution failed. User process 'python' exited with status code 2."},
            logs={"train": log},
        )
    )
    runner = runner_for(fake)
    handle = runner.submit(load_spec(), _request(load_csv, tmp_path))
    result = runner.wait(handle, lambda report: None)

    assert result.status is Status.FAILED
    failed = result.failed_step()
    assert failed is not None and failed.step == "train"
    assert failed.message == "Execution failed. User process 'python' exited with status code 2."
    assert failed.log_tail.splitlines() == [*(f"line {i}" for i in range(11, 30)), log.splitlines()[-1]]
    assert [s.step for s in result.steps] == ["train"]  # promote and predict never started
    with pytest.raises(AzureRunError) as caught:
        runner.outputs(handle, tmp_path / "out")
    assert str(caught.value) == f"pipeline job {handle.run_id} is Failed, not Completed: it has no results to fetch"


def test_an_unreadable_log_does_not_hide_the_step_error(
    workspace: Start, runner_for: RunnerFor, load_csv: Path, tmp_path: Path
) -> None:
    fake = workspace(
        Scenario(
            timeline=[{"pipeline": "Failed", "train": "Failed"}],
            errors={"train": "Execution failed. User process 'python' exited with status code 1."},
            logs_forbidden=True,
        )
    )
    runner = runner_for(fake)
    failed = runner.wait(runner.submit(load_spec(), _request(load_csv, tmp_path)), lambda report: None).failed_step()
    assert failed is not None
    assert failed.message == "Execution failed. User process 'python' exited with status code 1."
    child = fake.child_run_name("train")
    assert failed.log_tail.startswith(
        f"(the log of {child} could not be fetched: "
        f"Saving blob with prefix ExperimentRun/dcid.{child}/ was unsuccessful."
    )
    assert "AuthorizationPermissionMismatch" in failed.log_tail


def test_a_pipeline_failure_outside_any_step_is_still_a_failed_step(
    workspace: Start, runner_for: RunnerFor, load_csv: Path, tmp_path: Path
) -> None:
    fake = workspace(Scenario(timeline=[{"pipeline": "Failed"}]))
    runner = runner_for(fake)
    handle = runner.submit(load_spec(), _request(load_csv, tmp_path))
    failed = runner.wait(handle, lambda report: None).failed_step()
    assert failed == StepReport("pipeline", Status.FAILED, f"pipeline job {handle.run_id} failed")


def test_validation_refusal_submits_nothing(
    workspace: Start, runner_for: RunnerFor, load_csv: Path, tmp_path: Path
) -> None:
    fake = workspace(Scenario(computes=set()))  # the stack's cluster is gone
    with pytest.raises(AzureRunError) as caught:
        runner_for(fake).submit(load_spec(), _request(load_csv, tmp_path))
    assert str(caught.value).startswith("AzureML refused the pipeline job: ")
    assert "jobs.train.compute" in str(caught.value)
    assert "Compute cpu-cluster not found." in str(caught.value)
    assert fake.calls("PUT", r"/jobs/") == []


def test_stop_cancels_the_pipeline_job(workspace: Start, runner_for: RunnerFor, load_csv: Path, tmp_path: Path) -> None:
    fake = workspace(Scenario(timeline=[{"pipeline": "Running", "train": "Running"}]))
    runner = runner_for(fake)
    handle = runner.submit(load_spec(), _request(load_csv, tmp_path))
    assert runner.status(handle).steps == [StepReport("train", Status.RUNNING)]

    runner.stop(handle)
    cancel = _only(fake.calls("POST", rf"/jobs/{handle.run_id}/cancel$"))
    assert cancel.query["api-version"] == ["2023-04-01-preview"]
    assert fake.calls("GET", rf"^/operations/cancel-{handle.run_id}$")  # the SDK followed the long-running operation

    seen: list[StepReport] = []
    result = runner.wait(handle, seen.append)
    assert result.status is Status.STOPPED
    assert seen == [StepReport("train", Status.RUNNING), StepReport("train", Status.STOPPED)]
    assert result.failed_step() == StepReport("pipeline", Status.FAILED, f"pipeline job {handle.run_id} was canceled")


def test_status_and_logs_from_another_process(
    workspace: Start, runner_for: RunnerFor, load_csv: Path, tmp_path: Path
) -> None:
    """`--detach` then `runner status` / `runner logs`: a new runner knows the run only by its saved handle."""
    fake = workspace(
        Scenario(
            timeline=[{"pipeline": "Running", "train": "Completed", "promote": "Running"}],
            logs={"train": "registered models:/transformer_load_forecast/7: test RMSE 2.412 kW\n"},
        )
    )
    saved = runner_for(fake).submit(load_spec(), _request(load_csv, tmp_path))
    handle = RunHandle(**json.loads(json.dumps(saved.__dict__)))  # what the CLI writes and reads back
    later = runner_for(fake)

    result = later.status(handle)
    assert result.status is Status.RUNNING
    assert result.steps == [StepReport("train", Status.SUCCEEDED), StepReport("promote", Status.RUNNING)]
    assert later.logs(handle, "train") == "registered models:/transformer_load_forecast/7: test RMSE 2.412 kW\n"

    with pytest.raises(AzureRunError) as caught:
        later.logs(handle, "promote")
    assert str(caught.value) == (
        "step promote is Running: AzureML hands out a step's log once it has ended; "
        f"watch it live in studio: {handle.details['studio_url']}"
    )
    with pytest.raises(AzureRunError) as caught:
        later.logs(handle, "predict")
    assert (
        str(caught.value) == f"pipeline job {handle.run_id} has no step 'predict' (yet); steps: train, promote, predict"
    )
