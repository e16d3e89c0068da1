"""Each pipeline input as an AzureML data asset, versioned by content (pure: ``--dry-run`` prints it).

The single pipeline's one file keeps its asset ``transformer-load-data``; specs with more inputs
(the fleet) get one asset per input, ``gridcast-<spec>-<input>``. A ``uri_folder`` input (the fleet's
data: a folder, or one long file put in a folder of its own) is a ``uri_folder`` asset whose
version is the digest of its file names and contents; every node of a sharded step mounts it and
reads only its own transformers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from runners.azure.compile import DATA_ASSET_NAME, content_version
from runners.content import folder_digest, folder_files
from runners.spec import PipelineSpec


@dataclass(frozen=True)
class InputAsset:
    input: str
    local: Path
    asset: str
    version: str
    folder: bool

    @property
    def reference(self) -> str:
        return f"azureml:{self.asset}:{self.version}"


def input_assets(spec: PipelineSpec, paths: dict[str, Path]) -> list[InputAsset]:
    assets = []
    for name, local in paths.items():
        folder = spec.inputs[name].type == "uri_folder"
        asset = DATA_ASSET_NAME if len(spec.inputs) == 1 and not folder else f"gridcast-{spec.name}-{name}"
        version = folder_digest(folder_files(local))[:16] if folder else content_version(local)
        assets.append(InputAsset(name, local, asset, version, folder))
    return assets
