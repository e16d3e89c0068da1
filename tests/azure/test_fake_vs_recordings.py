"""The loopback workspace answers as the live service did: held against azure-ai-ml's own recordings.

The Azure SDK team records azure-ai-ml's end-to-end tests against the live service and publishes the
recordings (Azure/azure-sdk-assets). ``recordings/live_pipeline_job_get_child_run.json`` holds excerpts
of one (source, commit and path inside); here the fake's answers to the same calls are compared with
them: status codes and values, the fields of a child run, and that both parse through the SDK path the
runner reads them by (a child the SDK cannot parse is silently dropped from ``jobs.list``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from azure.ai.ml._restclient.runhistory.models import Run
from azure.ai.ml.entities import Job
from azure_testkit import FakeCredential
from azureml_loopback import (
    WORKSPACE,
    FakeAzureML,
    Recorded,
    Scenario,
    _datastore,
    _discovery,
    _run,
    _run_data,
    _workspace,
)

from runners.azure.client import AzureML, build_ml_client
from runners.azure.runner import STATUSES as RUNNER_STATUSES
from runners.azure.settings import AzureSettings

RECORDED = json.loads((Path(__file__).parent / "recordings" / "live_pipeline_job_get_child_run.json").read_text())
STATUSES = set(RUNNER_STATUSES)  # every AzureML job status the runner maps


def as_run(entry: dict[str, Any]) -> Any:
    """One child run as the SDK's run-history client models it (``PaginatedRunList.value`` items)."""
    return Run(entry)


def as_job(entry: dict[str, Any]) -> Any:
    """What ``ml_client.jobs.list(parent_job_name=...)`` makes of one child run (``_translate_from_rest_object``)."""
    return Job._from_rest_object(as_run(entry))


def test_the_recording_is_what_it_claims() -> None:
    assert RECORDED["source"]["repository"] == "Azure/azure-sdk-assets"
    assert len(RECORDED["children"]["value"]) == 2


def fake_children(workspace: Callable[..., FakeAzureML], runner_for: Any, load_csv: Path, tmp_path: Path) -> list[dict]:
    from runners.base import RunRequest
    from runners.spec import load_spec

    failed = {"pipeline": "Failed", "train": "Failed"}
    fake = workspace(
        Scenario(timeline=[failed], errors={"train": "Execution failed. User process exited with code 2."})
    )
    runner_for(fake).submit(load_spec(), RunRequest(data=load_csv, output_dir=tmp_path / "out"))
    fake.ticks = len(fake.scenario.timeline)
    return [_run(fake, step, fake.child_run_name(step)) for step in ("train", "promote", "predict")]  # train Failed


def test_a_child_run_carries_only_fields_the_service_sends_with_the_same_types(
    workspace: Callable[..., FakeAzureML], runner_for: Any, load_csv: Path, tmp_path: Path
) -> None:
    recorded = RECORDED["children"]["value"][0]
    for entry in fake_children(workspace, runner_for, load_csv, tmp_path):
        assert set(entry) <= set(recorded), f"the fake invents {set(entry) - set(recorded)}"
        for key, value in entry.items():
            if recorded[key] is not None:
                assert type(value) is type(recorded[key]), key
        assert entry["status"] in STATUSES and entry["runType"] == recorded["runType"] == "azureml.StepRun"
        assert entry["parentRunId"] == entry["rootRunId"]  # a step of a top-level pipeline, as recorded
        assert recorded["parentRunId"] == recorded["rootRunId"]


def test_recorded_and_fake_children_parse_to_what_the_runner_reads(
    workspace: Callable[..., FakeAzureML], runner_for: Any, load_csv: Path, tmp_path: Path
) -> None:
    for entry in [*RECORDED["children"]["value"], *fake_children(workspace, runner_for, load_csv, tmp_path)]:
        job = as_job(entry)
        assert job is not None
        assert (job.name, job.display_name, job.status) == (entry["runId"], entry["displayName"], entry["status"])


def test_a_failed_childs_error_sits_where_the_runner_reads_it(
    workspace: Callable[..., FakeAzureML], runner_for: Any, load_csv: Path, tmp_path: Path
) -> None:
    """``AzureML.error`` reads run history's ``error.error.message``: present in both, same nesting."""
    recorded = [c for c in RECORDED["children"]["value"] if c["status"] == "Failed"]
    fake = [c for c in fake_children(workspace, runner_for, load_csv, tmp_path) if c["status"] == "Failed"]
    assert recorded and fake
    for entry in recorded + fake:
        run = as_run(entry)
        assert run.error.error.code == "UserError" and run.error.error.message


def test_children_are_listed_in_no_pipeline_order() -> None:
    """Live run history listed the second node first: the runner must order steps itself (it does, by spec)."""
    listed = [c["displayName"] for c in RECORDED["children"]["value"]]
    assert listed != RECORDED["children"]["pipeline_node_order"]
    assert sorted(listed) == sorted(RECORDED["children"]["pipeline_node_order"])


def test_a_new_pipeline_job_starts_as_the_service_starts_it(
    workspace: Callable[..., FakeAzureML], runner_for: Any, load_csv: Path, tmp_path: Path
) -> None:
    from runners.base import RunRequest
    from runners.spec import load_spec

    fake = workspace()
    runner_for(fake).submit(load_spec(), RunRequest(data=load_csv, output_dir=tmp_path / "out"))
    (put,) = [r for r in fake.requests if r.method == "PUT" and "/jobs/" in r.path]
    job = fake.jobs[put.path.rsplit("/", 1)[-1]]
    assert job["properties"]["status"] == RECORDED["pipeline_job_put"]["status"] == "NotStarted"
    assert sorted(job["properties"]["services"]) == sorted(RECORDED["pipeline_job_put"]["services"])
    assert all(status in STATUSES for status in RECORDED["pipeline_job_get"]["statuses_seen"])


def test_the_workspace_answers_in_the_recorded_form(
    workspace: Callable[..., FakeAzureML], settings: AzureSettings
) -> None:
    fake = workspace()
    AzureML(build_ml_client(settings, FakeCredential(), fake.url)).probe_workspace(settings.workspace_name)
    (get,) = [
        r for r in fake.requests if r.method == "GET" and r.path.endswith(f"/workspaces/{settings.workspace_name}")
    ]
    status, body = _workspace(fake, get, re.fullmatch(WORKSPACE, get.path))
    served, recorded = body["properties"], RECORDED["workspace_get"]
    assert status == 200
    assert served["publicNetworkAccess"] == recorded["publicNetworkAccess"] == "Enabled"  # the default stack's too
    shape = r"azureml://[a-z0-9]+\.api\.azureml\.ms/mlflow/v1\.0/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.MachineLearningServices/workspaces/[^/]+"
    assert re.fullmatch(shape, served["mlFlowTrackingUri"]) and re.fullmatch(shape, recorded["mlFlowTrackingUri"])


DOWNLOAD = json.loads((Path(__file__).parent / "recordings" / "live_pipeline_job_download.json").read_text())


def test_step_logs_are_where_the_service_keeps_them(
    workspace: Callable[..., FakeAzureML], runner_for: Any, load_csv: Path, tmp_path: Path
) -> None:
    """Live: a job's default artifacts are listed in the artifact store's ``azureml`` container under
    ``ExperimentRun/dcid.<run id>/``; the fake keeps each step's log at that place."""
    recorded = DOWNLOAD["log_listing"]
    fake = workspace()
    from runners.base import RunRequest
    from runners.spec import load_spec

    runner_for(fake).submit(load_spec(), RunRequest(data=load_csv, output_dir=tmp_path / "out"))
    logs = [key for container, key in fake.blobs if container == recorded["container"]]
    assert logs and all(re.fullmatch(r"ExperimentRun/dcid\.[^/]+/user_logs/std_log\.txt", key) for key in logs)
    assert (
        recorded["prefix"] == f"ExperimentRun/{DOWNLOAD['failed_pipeline_rundata']['runMetadata']['dataContainerId']}/"
    )
    where = {"sub": "s", "rg": "rg", "ws": "ws", "name": DOWNLOAD["artifact_store"]["name"]}
    store = _datastore(fake, None, where)[1]  # type: ignore[arg-type]
    assert store["properties"]["containerName"] == DOWNLOAD["artifact_store"]["containerName"] == "azureml"


def test_the_artifact_store_is_identity_based_as_the_stack_makes_it() -> None:
    """Live, an account-key artifact store on an account without shared keys made the log listing fail
    (403 KeyBasedAuthenticationNotPermitted). The stack forbids shared keys, so it must make the system
    datastores identity-based, and the fake's store carries no credential (the caller's token is used)."""
    assert DOWNLOAD["log_listing"]["x-ms-error-code"] == "KeyBasedAuthenticationNotPermitted"
    assert DOWNLOAD["artifact_store"]["credentialsType"] == "AccountKey"
    stack = (Path(__file__).parents[2] / "infra" / "azure_stack.py").read_text()
    assert "allow_shared_key_access=False" in stack
    assert "system_datastores_auth_mode=machinelearningservices.SystemDatastoresAuthMode.IDENTITY" in stack


def test_discovery_and_run_data_answer_in_the_recorded_form(workspace: Callable[..., FakeAzureML]) -> None:
    fake = workspace()
    discovery = _discovery(fake, None, None)[1]  # type: ignore[arg-type]
    assert set(discovery) <= set(DOWNLOAD["discovery"]["keys"])
    assert {"api", "history"} <= set(discovery)  # the two the SDK's data-plane clients are built from
    recorded = DOWNLOAD["failed_pipeline_rundata"]
    assert set(recorded["request"]) >= {"runId"}
    body = Recorded("POST", "/rundata", {}, {}, json.dumps(recorded["request"]).encode())
    answer = _run_data(fake, body, None)[1]  # type: ignore[arg-type]
    assert set(answer) <= set(recorded["response_keys"])
    assert answer["runMetadata"]["runId"] == recorded["request"]["runId"]
