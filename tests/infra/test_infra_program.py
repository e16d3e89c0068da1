"""The Pulumi program itself: runs from a plain Python process with only config, for either cloud."""

from __future__ import annotations

import contextvars
import re
import socket
from typing import Any

import pulumi
import pytest
from pulumi_harness import ACCOUNT_ID, REPO_ROOT, SUBSCRIPTION_ID, TENANT_ID, StackRun, run_main, stack_config

from infra.outputs import AWS_EXTRA_KEYS, AZURE_EXTRA_KEYS, COMMON_OUTPUT_KEYS, StackOutputs

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def test_both_clouds_export_the_same_common_keys(azure_run: StackRun, aws_run: StackRun) -> None:
    assert set(azure_run.outputs) == {*COMMON_OUTPUT_KEYS, *AZURE_EXTRA_KEYS}
    assert set(aws_run.outputs) == {*COMMON_OUTPUT_KEYS, *AWS_EXTRA_KEYS}
    assert set(azure_run.outputs) & set(aws_run.outputs) == set(COMMON_OUTPUT_KEYS)
    for run in (azure_run, aws_run):
        assert all(isinstance(run.outputs[k], str) and run.outputs[k] for k in COMMON_OUTPUT_KEYS)


def test_azure_outputs_point_at_the_created_resources(azure_run: StackRun) -> None:
    out = azure_run.outputs
    assert (out["cloud"], out["region"], out["name_prefix"]) == ("azure", "westeurope", "gridcast-azure")
    assert re.fullmatch(r"cr[a-z0-9]+\.azurecr\.io/gridcast", out["image_repository"])
    assert out["image_repository"] == f"{out['registry_login_server']}/gridcast"
    assert out["compute_target"] == "cpu-cluster"
    cluster = azure_run.named("gridcast-azure-compute").inputs["properties"]["properties"]
    assert out["compute_size"] == cluster["vmSize"] == "Standard_DS3_v2"  # the cluster's, from gridcast:computeSize
    assert out["job_identity"] == out["job_identity_client_id"]
    assert out["job_identity"] == azure_run.named("gridcast-azure-job-identity").state["clientId"]
    assert re.fullmatch(UUID, out["job_identity"])
    assert out["job_identity_resource_id"].endswith("/userAssignedIdentities/id-gridcast-azure-jobs")
    assert out["deploy_identity_client_id"] != out["job_identity"]
    assert out["mlflow_tracking_uri"].startswith("azureml://westeurope.api.azureml.ms/mlflow/v1.0/subscriptions/")
    assert out["mlflow_tracking_uri"].endswith("/workspaces/mlw-gridcast-azure")
    assert out["data_uri"] == "azureml://datastores/gridcast/paths/data/"
    assert out["outputs_uri"] == "azureml://datastores/gridcast/paths/outputs/"
    assert (out["subscription_id"], out["tenant_id"]) == (SUBSCRIPTION_ID, TENANT_ID)
    assert (out["resource_group"], out["workspace_name"]) == ("rg-gridcast-azure", "mlw-gridcast-azure")


def test_aws_outputs_point_at_the_created_resources(aws_run: StackRun) -> None:
    out = aws_run.outputs
    assert (out["cloud"], out["region"], out["name_prefix"]) == ("aws", "eu-west-1", "gridcast-aws")
    assert out["image_repository"] == f"{ACCOUNT_ID}.dkr.ecr.eu-west-1.amazonaws.com/gridcast-aws"
    assert out["compute_target"] == out["compute_size"] == "ml.m5.xlarge"
    assert out["job_identity"] == out["execution_role_arn"]
    assert out["job_identity"].startswith(f"arn:aws:iam::{ACCOUNT_ID}:role/gridcast-aws-execution-role")
    assert out["mlflow_tracking_uri"] == out["tracking_server_arn"]
    assert out["mlflow_tracking_uri"] == (
        f"arn:aws:sagemaker:eu-west-1:{ACCOUNT_ID}:mlflow-tracking-server/gridcast-aws"
    )
    assert out["data_uri"] == f"s3://{out['bucket']}/data/"
    assert out["outputs_uri"] == f"s3://{out['bucket']}/outputs/"
    assert out["kms_key_arn"].startswith(f"arn:aws:kms:eu-west-1:{ACCOUNT_ID}:key/")
    assert out["log_group"] == "/aws/sagemaker/gridcast-aws"
    assert out["deploy_role_arn"].startswith(f"arn:aws:iam::{ACCOUNT_ID}:role/gridcast-aws-deploy-role")
    assert out["account_id"] == ACCOUNT_ID


def test_the_program_builds_only_the_configured_cloud(azure_run: StackRun, aws_run: StackRun) -> None:
    assert {r.type.split(":")[0] for r in azure_run.custom} == {"azure-native"}
    assert {r.type.split(":")[0] for r in aws_run.custom} == {"aws"}


def test_the_region_comes_from_config(aws_run: StackRun) -> None:
    run = run_main("aws", stack_config("aws") | {"aws:region": "us-east-2"})
    assert run.outputs["region"] == "us-east-2"
    assert run.outputs["mlflow_tracking_uri"].startswith(f"arn:aws:sagemaker:us-east-2:{ACCOUNT_ID}:")


def test_the_program_refuses_an_unknown_cloud() -> None:
    with pytest.raises(ValueError, match="gridcast:cloud"):
        run_main("azure", stack_config("azure") | {"gridcast:cloud": "gcp"})


def test_extras_cannot_shadow_common_outputs() -> None:
    common = dict.fromkeys(COMMON_OUTPUT_KEYS, "x")
    with pytest.raises(ValueError, match="region"):
        StackOutputs(**common, extras={"region": "y"}).as_dict()


def test_readme_documents_every_output_in_one_table() -> None:
    readme = (REPO_ROOT / "infra" / "README.md").read_text()
    section = readme.split("\n## Outputs\n", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `([a-z_]+)` \|", section, flags=re.MULTILINE)
    assert rows[: len(COMMON_OUTPUT_KEYS)] == list(COMMON_OUTPUT_KEYS), "common keys first, in order"
    assert sorted(rows) == sorted({*COMMON_OUTPUT_KEYS, *AZURE_EXTRA_KEYS, *AWS_EXTRA_KEYS})


@pytest.mark.parametrize("cloud", ["azure", "aws"])
def test_no_network_and_no_resource_created_inside_apply(cloud: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """apply may only render values; any socket connection or resource born in a callback fails."""
    inside_apply = contextvars.ContextVar("inside_apply", default=False)
    born_in_apply: list[str] = []
    original_apply = pulumi.Output.apply
    original_init = pulumi.Resource.__init__

    def guarded_apply(self: pulumi.Output[Any], func: Any, run_with_unknowns: bool = False) -> Any:
        def marked(value: Any) -> Any:
            token = inside_apply.set(True)
            try:
                return func(value)
            finally:
                inside_apply.reset(token)

        return original_apply(self, marked, run_with_unknowns)

    def guarded_init(self: pulumi.Resource, t: str, name: str, *args: Any, **kwargs: Any) -> None:
        if inside_apply.get():
            born_in_apply.append(name)
        original_init(self, t, name, *args, **kwargs)

    def no_network(*args: Any, **kwargs: Any) -> None:
        raise AssertionError(f"network call at program time: {args}")

    monkeypatch.setattr(pulumi.Output, "apply", guarded_apply)
    monkeypatch.setattr(pulumi.Resource, "__init__", guarded_init)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)

    run = run_main(cloud)
    assert born_in_apply == []
    assert set(COMMON_OUTPUT_KEYS) <= set(run.outputs)
