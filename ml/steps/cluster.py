"""Which shard this process is, when the cluster rather than the command line knows (``--shard-index auto``).

A cloud job with N instances runs one command on each; the instances differ only in what the
platform tells them:

* **SageMaker** processing job with ``InstanceCount`` N: ``/opt/ml/config/resourceconfig.json`` holds
  ``current_host`` and ``hosts`` (``algo-1`` .. ``algo-N``), so the index is the position of
  ``current_host`` in ``hosts``. ``/opt/ml/config/processingjobconfig.json`` is the job's own request:
  when the data input is ``ShardedByS3Key``, SageMaker already gave this instance its share of the
  files, and every transformer in them is this shard's (``take_all``).
* **Azure ML** command job with ``instance_count`` N and a PyTorch distribution of one process per
  node: ``RANK`` (the node's rank, 0..N-1) and ``WORLD_SIZE`` (N) in the environment.

References: https://docs.aws.amazon.com/sagemaker/latest/dg/build-your-own-processing-container.html
and https://learn.microsoft.com/azure/machine-learning/how-to-train-distributed-gpu (environment variables).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from ml.validation import DataValidationError

AUTO = "auto"
SAGEMAKER_CONFIG = Path("/opt/ml/config")
SAGEMAKER_CONFIG_ENV = "GRIDCAST_SAGEMAKER_CONFIG_DIR"
"""Where the SageMaker config files are; only the loopback test engine moves them from /opt/ml/config."""


@dataclass(frozen=True)
class ShardPlace:
    index: int
    count: int
    take_all: bool = False
    """The platform split the input files between instances: every transformer received is this shard's."""
    source: str = "command line"


def resolve(index: str, count: int, data: Path) -> ShardPlace:
    """``index`` is a number or ``auto``; with ``auto`` the platform's view must agree with ``count``."""
    if index != AUTO:
        try:
            return ShardPlace(int(index), count)
        except ValueError:
            raise DataValidationError(f"--shard-index {index!r} is neither a number nor '{AUTO}'") from None
    place = _sagemaker(data) or _azureml()
    if place is None:
        raise DataValidationError(
            f"--shard-index {AUTO}: no cluster here tells this instance its place (no SageMaker "
            f"{SAGEMAKER_CONFIG}/resourceconfig.json, no RANK/WORLD_SIZE); pass a number instead."
        )
    if place.count != count:
        raise DataValidationError(
            f"--shard-count {count} but the {place.source} has {place.count} instance(s); they must match."
        )
    return place


def _sagemaker(data: Path) -> ShardPlace | None:
    folder = Path(os.environ.get(SAGEMAKER_CONFIG_ENV, SAGEMAKER_CONFIG))
    resources = folder / "resourceconfig.json"
    if not resources.is_file():
        return None
    config = json.loads(resources.read_text())
    hosts, me = list(config["hosts"]), config["current_host"]
    job = folder / "processingjobconfig.json"
    split = False
    if job.is_file():
        for item in json.loads(job.read_text()).get("ProcessingInputs", []):
            s3 = item.get("S3Input") or {}
            if s3.get("S3DataDistributionType") == "ShardedByS3Key" and _under(data, s3.get("LocalPath", "")):
                split = True
    return ShardPlace(hosts.index(me), len(hosts), split, "SageMaker job")


def _under(path: Path, folder: str) -> bool:
    return bool(folder) and (path == Path(folder) or Path(folder) in path.parents)


def _azureml() -> ShardPlace | None:
    rank, size = os.environ.get("RANK") or os.environ.get("NODE_RANK"), os.environ.get("WORLD_SIZE")
    if rank is None or size is None:
        return None
    return ShardPlace(int(rank), int(size), False, "Azure ML job")
