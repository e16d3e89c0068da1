"""Where each pipeline input goes in S3, computed before any call (``--dry-run`` prints it).

A file input (``uri_file``) is one object, ``<data prefix>/sha256/<digest>/<input>.csv``; a folder
input (``uri_folder``: the fleet's data, a folder or one long file) is every file under
``<data prefix>/sha256/<digest of names and contents>/``. Same bytes, same place: uploaded once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from runners.aws import compile as sm
from runners.aws.fleet import (
    FolderUpload,
    distribution_parameter,
    instances,
    split_pipeline_inputs,
)
from runners.aws.settings import AwsSettings
from runners.aws.staging import sha256
from runners.base import BackendError
from runners.content import folder_digest, folder_files
from runners.spec import PipelineSpec


@dataclass(frozen=True)
class FileUpload:
    name: str
    local: Path
    sha256: str
    prefix: str
    uri: str


@dataclass(frozen=True)
class InputPlan:
    files: list[FileUpload] = field(default_factory=list)
    folders: list[FolderUpload] = field(default_factory=list)
    prefixes: dict[str, str] = field(default_factory=dict)
    """Pipeline input -> the S3 prefix its parameter gets."""
    parameters: list[dict[str, str]] = field(default_factory=list)
    """The ``<input>_distribution`` values for this execution."""


def plan_inputs(spec: PipelineSpec, settings: AwsSettings, paths: dict[str, Path]) -> InputPlan:
    plan = InputPlan()
    split = split_pipeline_inputs(spec)
    for name, local in paths.items():
        if spec.inputs[name].type == "uri_folder":
            files = folder_files(local)
            if not files:
                raise BackendError(f"{local}: no files to upload for input {name!r}")
            digest = folder_digest(files)
            folder = FolderUpload(name, local, digest, sm.data_prefix(settings, digest), files)
            plan.folders.append(folder)
            plan.prefixes[name] = folder.prefix
            if name in split:
                value = folder.distribution(instances(spec))
                plan.parameters.append({"Name": distribution_parameter(name), "Value": value})
            continue
        if not local.is_file():
            raise BackendError(f"{local}: input {name!r} must be a file")
        digest = sha256(local)
        prefix = sm.data_prefix(settings, digest)
        plan.files.append(FileUpload(name, local, digest, prefix, prefix + sm.input_file(name)))
        plan.prefixes[name] = prefix
    return plan
