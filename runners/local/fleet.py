"""Run the fleet spec (``runners/fleet.yaml``) on this machine: each shard of a sharded step is its
own process, all shards at once, then the next step (the merge) once every shard has succeeded."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from runners.base import BackendError
from runners.local.lifetime import die_with_parent
from runners.spec import Binding, PipelineSpec, Step

FLEET_SPEC = Path(__file__).resolve().parents[1] / "fleet.yaml"


def run_fleet(
    spec: PipelineSpec,
    inputs: dict[str, Path],
    output_dir: Path,
    parameters: dict[str, Any],
    shards: int | None,
    state_dir: Path,
    tracking_uri: str,
    say: Callable[[str], None],
) -> str:
    """Run every step of ``spec`` in order; the result step writes into ``output_dir``. Returns the run id."""
    from ml.fleet import default_jobs

    run_id = uuid.uuid4().hex[:12]
    run_dir = state_dir / "fleet-runs" / run_id
    result = spec.result_binding()
    values = spec.parameter_values(parameters)
    env = os.environ | {"MLFLOW_TRACKING_URI": tracking_uri, "GRIDCAST_PIPELINE_RUN_ID": run_id}
    given = {name: str(path.resolve()) for name, path in inputs.items()}
    produced: dict[tuple[str, str], str] = {}
    say(f"gridcast fleet · backend local · run {run_id}")
    for step in spec.steps:
        step_inputs = {
            name: given[b.name] if b.source == "pipeline" else produced[b.key] for name, b in step.bindings().items()
        }
        outputs = {
            name: str(
                output_dir.resolve()
                if Binding(source="step", step=step.name, name=name) == result
                else run_dir / step.name / name
            )
            for name in step.outputs
        }
        produced |= {(step.name, name): path for name, path in outputs.items()}
        count = (shards or step.shards.count) if step.shards else 1
        step_values = values | (
            {"jobs": max(default_jobs() // count, 1)} if parameters.get("jobs") is None and step.shards else {}
        )
        _run_shards(step, step.render_shards(step_inputs, outputs, step_values, count), run_dir / step.name, env, say)
    return run_id


def _run_shards(
    step: Step, commands: list[list[str]], folder: Path, env: dict[str, str], say: Callable[[str], None]
) -> None:
    """All shards of one step in parallel, one log each; any failure stops the fleet run."""
    folder.mkdir(parents=True, exist_ok=True)
    logs = [folder / f"shard-{i}.log" for i in range(len(commands))]
    handles = [log.open("w") for log in logs]
    try:
        procs = [
            subprocess.Popen(
                [sys.executable if argv[0] == "python" else argv[0], *argv[1:]],
                stdout=handle,
                stderr=subprocess.STDOUT,
                env=env,
                preexec_fn=die_with_parent,  # a killed runner takes its shards with it
            )
            for argv, handle in zip(commands, handles, strict=True)
        ]
        codes = [p.wait() for p in procs]
    finally:
        for handle in handles:
            handle.close()
    for i, (code, log) in enumerate(zip(codes, logs, strict=True)):
        label = f"{step.name} shard {i}/{len(commands)}" if step.shards else step.name
        last = (log.read_text().strip().splitlines() or [""])[-1]
        say(f"  {'succeeded' if code == 0 else 'failed':>9}  {label}: {last}")
    if any(codes):
        raise BackendError(f"step {step.name} failed; logs in {folder}")
