"""The plan a fleet dry run prints: shards, instances, expected wall time and cost.

Wall time of the sharded step = start-up + (transformers per shard) x (measured core-milliseconds per
transformer) / (cores per instance x parallel efficiency); then the merge on one instance. Cost =
instances x hours x the instance's price. The measured cost and the prices live in
``runners/fleet_costs.yaml``, each with its date and source, so a plan says what it rests on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from runners.base import BackendError
from runners.spec import PipelineSpec

COSTS = Path(__file__).with_name("fleet_costs.yaml")
ALTERNATIVES = (1, 4, 16, 64, 256)


@dataclass(frozen=True)
class Machine:
    name: str
    vcpus: int
    memory_gib: float
    per_hour: float | None


@dataclass(frozen=True)
class Estimate:
    shards: int
    per_shard: int
    wall_s: float
    cost: float | None
    memory_gib: float


def load_costs(path: Path = COSTS) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


def machine(costs: dict[str, Any], backend: str, spec: PipelineSpec, size: str | None = None) -> Machine:
    """The sharded step's instance type (aws) or VM size (azure), or this machine (local); ``size`` is the
    stack's, when it fixes one for every job (it wins over the spec's, as in the compiled jobs)."""
    if backend == "local":
        from ml.workers import default_jobs

        return Machine("this machine", default_jobs(), math.nan, None)
    name = size or spec_size(spec, backend)
    box = _priced(costs, backend, name)
    if box is None:
        raise BackendError(
            f"no price for {backend} instance {name!r} in {COSTS.name}; add it with its vCPUs, memory and price"
        )
    return box


def _priced(costs: dict[str, Any], backend: str, name: object) -> Machine | None:
    """The machine ``name`` as the price table describes it, or None when the table does not have it."""
    row = costs["prices"][backend].get(name)
    return None if row is None else Machine(str(name), row["vcpus"], row["memory_gib"], row["per_hour"])


def spec_size(spec: PipelineSpec, backend: str) -> str:
    sharded = next(step for step in spec.steps if step.shards is not None)
    return str(sharded.resources.get(backend, {}).get("instance_type" if backend == "aws" else "vm_size"))


def merge_machine(
    costs: dict[str, Any], backend: str, spec: PipelineSpec, size: str | None, shards: Machine
) -> Machine:
    """The merge step's machine, as the compiled jobs give it: on Azure ML the cluster's (the shards'); on AWS
    the stack's compute size when it sets every job's, else the merge step's own instance type."""
    if backend != "aws" or size is not None:
        return shards
    merge = next(step for step in spec.steps if step.shards is None and step.name.endswith("merge"))
    return _priced(costs, "aws", merge.resources.get("aws", {}).get("instance_type")) or shards


def estimate(
    costs: dict[str, Any], backend: str, box: Machine, transformers: int, shards: int, merge: Machine | None = None
) -> Estimate:
    """Wall time, cost and memory of ``shards`` shards on ``box``, then the merge on ``merge`` (default: a
    2-vCPU instance of the same family)."""
    measured = costs["measured"]
    per_shard = math.ceil(transformers / shards)
    at_once = transformers if backend == "local" else per_shard  # local shards share this machine's cores
    work_s = at_once * measured["core_ms_per_transformer"] / 1000 / (box.vcpus * measured["parallel_efficiency"])
    merge_s = transformers * measured["merge_ms_per_transformer"] / 1000
    startup = costs["startup_s"][backend]
    wall = startup + work_s + startup + merge_s
    cost = None
    if box.per_hour is not None:
        merge_price = box.per_hour / box.vcpus * 2 if merge is None or merge.per_hour is None else merge.per_hour
        cost = shards * (startup + work_s) / 3600 * box.per_hour + (startup + merge_s) / 3600 * merge_price
    memory = measured["base_gib"] + per_shard / 1000 * measured["gib_per_1000"]
    return Estimate(shards, per_shard, wall, cost, memory)


def describe_plan(
    spec: PipelineSpec, backend: str, transformers: int, shards: int, costs: dict[str, Any], size: str | None = None
) -> str:
    """The plan for the chosen shard count, and the same fleet on other counts to choose from; ``size`` is
    the stack's machine size when it overrides the spec's."""
    box = machine(costs, backend, spec, size)
    merge = merge_machine(costs, backend, spec, size, box)
    measured, prices = costs["measured"], costs["prices"]
    counts = sorted({shards, *(n for n in ALTERNATIVES if n <= max(transformers, 1))})
    lines = [
        f"plan     {transformers:,} transformers on {backend}: {shards} shard(s), "
        f"{'each on one ' + box.name + f' ({box.vcpus} vCPU)' if backend != 'local' else 'processes on this machine'}"
        + _whose_size(spec, backend, size),
        f"         measured {measured['core_ms_per_transformer']:g} core-ms per transformer ({measured['date']}, "
        f"{measured['source']}); start-up {costs['startup_s'][backend]} s per job assumed",
    ]
    if box.per_hour is not None:
        lines.append(f"         prices {prices['currency']} per instance-hour of {prices['date']}: {prices['source']}")
        lines.append(f"         then the merge on one {merge.name} ({merge.vcpus} vCPU)")
    lines.append(f"         {'shards':>7} {'per shard':>10} {'wall time':>10} {'cost':>10} {'memory/shard':>13}")
    for count in counts:
        e = estimate(costs, backend, box, transformers, count, merge)
        cost = f"{e.cost:,.2f}" if e.cost is not None else "-"
        marker = "  <- this run" if count == shards else ""
        memory = f"{e.memory_gib:.1f} GiB"
        if not math.isnan(box.memory_gib) and e.memory_gib > 0.8 * box.memory_gib:
            memory += " (too big)"
        lines.append(
            f"         {count:>7,} {e.per_shard:>10,} {_duration(e.wall_s):>10} {cost:>10} {memory:>13}{marker}"
        )
    lines.append(
        "         memory is for a folder of files per transformer; a long file holds the shard's rows as text "
        "until each is forecast (a few MB per transformer): prefer a folder, or more shards, at this scale"
    )
    if backend == "azure" and size is None:  # a stack from before the compute_size output
        lines.append(
            "         the cluster's VM size is the stack's (Pulumi config gridcast:computeSize): the plan prices the "
            f"spec's {box.name}, so keep the two the same"
        )
    if backend == "azure":
        lines.append(
            f"         the compute cluster must allow {shards} nodes (Pulumi config gridcast:computeMaxNodes), "
            "or the job waits for nodes that never come"
        )
    return "\n".join(lines)


def _whose_size(spec: PipelineSpec, backend: str, size: str | None) -> str:
    """Say when the price is the stack's machine rather than the spec's, and what the spec would have said."""
    if backend == "local" or size is None:
        return ""
    in_spec = spec_size(spec, backend)
    return ", the stack's size" + (f" (the spec says {in_spec})" if size != in_spec else "")


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
