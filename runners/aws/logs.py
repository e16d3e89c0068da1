"""Read a pipeline step's job log from CloudWatch Logs, where SageMaker sends the container's output."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

# SageMaker writes one stream per instance, named "<job name>/algo-<n>-<epoch>", into these groups.
LOG_GROUPS = {"TrainingJob": "/aws/sagemaker/TrainingJobs", "ProcessingJob": "/aws/sagemaker/ProcessingJobs"}


def job_of(metadata: dict[str, Any]) -> tuple[str, str] | None:
    """``(log group, job name)`` of the job a pipeline step ran, from its ListPipelineExecutionSteps metadata."""
    for kind, group in LOG_GROUPS.items():
        arn = metadata.get(kind, {}).get("Arn")
        if arn:
            return group, arn.rsplit("/", 1)[-1]
    return None


def log_text(logs: Any, job: tuple[str, str], tail: int | None = None) -> str:
    """The job's log lines, all of them or the last ``tail``; empty when the job has logged nothing yet."""
    group, name = job
    try:
        pages = logs.get_paginator("describe_log_streams").paginate(logGroupName=group, logStreamNamePrefix=f"{name}/")
        streams = sorted(s["logStreamName"] for page in pages for s in page["logStreams"])
        lines: list[str] = []
        for stream in streams:
            lines += _messages(logs, group, stream, tail)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            return ""
        raise
    return "\n".join(lines[-tail:] if tail else lines)


def _messages(logs: Any, group: str, stream: str, tail: int | None) -> list[str]:
    if tail:  # newest events only: one call however long the log
        events = logs.get_log_events(logGroupName=group, logStreamName=stream, startFromHead=False, limit=tail)
        return [e["message"].rstrip("\n") for e in events["events"]]
    lines: list[str] = []
    token = None
    while True:
        page = logs.get_log_events(
            logGroupName=group, logStreamName=stream, startFromHead=True, **({"nextToken": token} if token else {})
        )
        lines += [e["message"].rstrip("\n") for e in page["events"]]
        if not page["events"] or page.get("nextForwardToken") == token:
            return lines
        token = page.get("nextForwardToken")
