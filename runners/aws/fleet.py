"""Sharded steps on SageMaker: one processing job with ``InstanceCount`` N, each instance its shard.

* The command gets ``--shard-index auto``: an instance finds its place in
  ``/opt/ml/config/resourceconfig.json`` (``current_host`` among ``hosts``) and ``--shard-count N``.
* A folder input of a sharded step is read with ``S3DataDistributionType`` from a pipeline parameter
  ``<input>_distribution``: ``ShardedByS3Key`` (SageMaker copies each instance only about 1/N of
  the objects, so download, disk and memory follow the shard) when the folder has at least N
  files, else ``FullyReplicated`` (every instance reads the one long file and keeps its own ids).
  The step reads the choice back from ``/opt/ml/config/processingjobconfig.json``.
* Every instance uploads its ``/opt/ml/processing/output/<name>`` to the same S3 prefix, so the
  step writes into ``shard-i-of-N/`` and instances never overwrite each other.

Folder inputs are uploaded object by object under a content address (the sha256 of the file names
and digests), listing the prefix once so a re-run uploads nothing that is already there.

References: https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ProcessingS3Input.html,
https://docs.aws.amazon.com/sagemaker/latest/dg/build-your-own-processing-container.html.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runners.spec import PipelineSpec, Step

SHARDED = "ShardedByS3Key"
REPLICATED = "FullyReplicated"
AUTO_INDEX = "auto"


def distribution_parameter(input_name: str) -> str:
    return f"{input_name}_distribution"


def split_inputs(spec: PipelineSpec, step: Step) -> dict[str, Any]:
    """Step input -> its S3DataDistributionType expression, for folder inputs of a sharded step."""
    if step.shards is None:
        return {}
    return {
        name: {"Get": f"Parameters.{distribution_parameter(binding.name)}"}
        for name, binding in step.bindings().items()
        if binding.source == "pipeline" and spec.inputs[binding.name].type == "uri_folder"
    }


def split_pipeline_inputs(spec: PipelineSpec) -> list[str]:
    """Pipeline inputs that some sharded step may receive split by S3 key."""
    names = []
    for step in spec.steps:
        for binding in step.bindings().values():
            folder = binding.source == "pipeline" and spec.inputs[binding.name].type == "uri_folder"
            if step.shards is not None and folder and binding.name not in names:
                names.append(binding.name)
    return names


def distribution_parameters(spec: PipelineSpec) -> list[dict[str, str]]:
    return [
        {"Name": distribution_parameter(name), "Type": "String", "DefaultValue": SHARDED}
        for name in split_pipeline_inputs(spec)
    ]


def shard_argument(step: Step, parameter: str) -> str | None:
    """What a sharded step's command gets for the backend-set shard parameters (None: not one of them)."""
    if step.shards is None:
        return None
    return {"shard_index": AUTO_INDEX, "shard_count": str(step.shards.count)}.get(parameter)


def instances(spec: PipelineSpec) -> int:
    """The most instances any sharded step runs (a ShardedByS3Key split needs at least that many files)."""
    return max((step.shards.count for step in spec.steps if step.shards is not None), default=1)


@dataclass(frozen=True)
class FolderUpload:
    """A local folder (or one file) going to a content-addressed S3 prefix, object by object."""

    name: str
    local: Path
    sha256: str
    prefix: str
    """``s3://bucket/<data prefix>/sha256/<digest>/``"""
    files: list[tuple[Path, str]]
    """``(local file, key relative to the prefix)``"""

    def distribution(self, instances: int) -> str:
        return SHARDED if len(self.files) >= instances > 1 else REPLICATED


def upload_folder_once(s3: Any, upload: FolderUpload, kms_key_arn: str | None) -> int:
    """Upload the files not yet under the prefix; how many were uploaded."""
    bucket, _, key_prefix = upload.prefix.removeprefix("s3://").partition("/")
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key_prefix)
    present = {item["Key"] for page in pages for item in page.get("Contents", [])}
    extra: dict[str, str] = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms_key_arn} if kms_key_arn else {}
    uploaded = 0
    for path, relative in upload.files:
        key = f"{key_prefix}{relative}"
        if key not in present:
            s3.upload_file(str(path), bucket, key, ExtraArgs=extra)
            uploaded += 1
    return uploaded


PROGRESS_TAIL = 20


def shard_progress(logs: Any, job: tuple[str, str], instances: int) -> str:
    """The instances' ``progress:`` lines added up, from the newest events of each CloudWatch stream."""
    from botocore.exceptions import ClientError

    from runners.progress import combined

    group, name = job
    try:
        pages = logs.get_paginator("describe_log_streams").paginate(logGroupName=group, logStreamNamePrefix=f"{name}/")
        streams = [s["logStreamName"] for page in pages for s in page["logStreams"]]
        texts = [
            "\n".join(
                e["message"]
                for e in logs.get_log_events(
                    logGroupName=group, logStreamName=stream, startFromHead=False, limit=PROGRESS_TAIL
                )["events"]
            )
            for stream in streams
        ]
    except ClientError:
        return ""  # no stream yet: the instances are still starting
    progress = combined(texts, instances)
    return str(progress) if progress is not None else ""
