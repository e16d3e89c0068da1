"""The cloud-agnostic pipeline spec (``runners/pipeline.yaml``), loaded and checked with pydantic."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

DEFAULT_SPEC = Path(__file__).with_name("pipeline.yaml")
FLEET_SPEC = Path(__file__).with_name("fleet.yaml")
PLACEHOLDER = re.compile(r"\$\{\{(inputs|outputs|parameters)\.([A-Za-z_][A-Za-z0-9_]*)\}\}")
IOType = Literal["uri_file", "uri_folder", "mlflow_model"]
DEFAULT_RESULT_FILES = ("predictions.csv", "overload_report.json", "forecast.png", "typical_day.png")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PipelineInput(_Strict):
    type: IOType
    description: str = ""


class Parameter(_Strict):
    type: Literal["number", "string", "integer"]
    default: Any
    description: str = ""


class StepOutput(_Strict):
    type: IOType
    description: str = ""


class Binding(_Strict):
    """Where a step input comes from: ``pipeline.inputs.X`` or ``steps.S.outputs.X``."""

    source: Literal["pipeline", "step"]
    step: str | None = None
    name: str

    @classmethod
    def parse(cls, text: str) -> Binding:
        parts = text.split(".")
        if len(parts) == 3 and parts[:2] == ["pipeline", "inputs"]:
            return cls(source="pipeline", name=parts[2])
        if len(parts) == 4 and parts[0] == "steps" and parts[2] == "outputs":
            return cls(source="step", step=parts[1], name=parts[3])
        raise ValueError(f"binding {text!r} is neither 'pipeline.inputs.NAME' nor 'steps.STEP.outputs.NAME'")

    @property
    def key(self) -> tuple[str, str]:
        """``(step, output)`` identifying what a step binding reads; pipeline inputs have step ``""``."""
        return (self.step or "", self.name)


SHARD_PARAMETERS = ("shard_index", "shard_count")
"""Set per shard by the backend, never declared by the pipeline: a sharded step's command must use both."""


class Shards(_Strict):
    """Run a step as ``count`` independent instances, each told its ``${{parameters.shard_index}}`` (0-based)
    and ``${{parameters.shard_count}}``; how it splits its work by them is the step's business."""

    count: int = Field(ge=1)


class Step(_Strict):
    name: str
    display_name: str
    command: list[str]
    inputs: dict[str, str] = Field(default_factory=dict)
    outputs: dict[str, StepOutput] = Field(default_factory=dict)
    exit_codes: dict[str, Literal["rejected"]] = Field(default_factory=dict)
    resources: dict[str, dict[str, Any]] = Field(default_factory=dict)
    shards: Shards | None = None

    def bindings(self) -> dict[str, Binding]:
        return {name: Binding.parse(text) for name, text in self.inputs.items()}

    def placeholders(self) -> list[tuple[str, str]]:
        """``(kind, name)`` of each placeholder, once, in command order (so errors name the first one)."""
        found = ((m.group(1), m.group(2)) for arg in self.command for m in PLACEHOLDER.finditer(arg))
        return list(dict.fromkeys(found))

    def render(self, inputs: dict[str, str], outputs: dict[str, str], parameters: dict[str, Any]) -> list[str]:
        """The command with every placeholder replaced by a concrete path or value."""
        tables = {"inputs": inputs, "outputs": outputs, "parameters": parameters}
        return [PLACEHOLDER.sub(lambda m: str(tables[m.group(1)][m.group(2)]), arg) for arg in self.command]

    def render_shards(
        self, inputs: dict[str, str], outputs: dict[str, str], parameters: dict[str, Any], count: int | None = None
    ) -> list[list[str]]:
        """One command per shard (``count`` overrides the spec's); a step without shards gives one command."""
        if self.shards is None:
            return [self.render(inputs, outputs, parameters)]
        n = count or self.shards.count
        return [self.render(inputs, outputs, parameters | {"shard_index": i, "shard_count": n}) for i in range(n)]


class PipelineSpec(_Strict):
    name: str
    experiment: str
    description: str = ""
    inputs: dict[str, PipelineInput]
    parameters: dict[str, Parameter] = Field(default_factory=dict)
    steps: list[Step]
    result: str
    result_files: tuple[str, ...] = DEFAULT_RESULT_FILES
    """The files of the result output a backend brings home."""

    @model_validator(mode="after")
    def _wired_correctly(self) -> PipelineSpec:
        """Every binding points at something defined earlier; every placeholder is declared."""
        seen: dict[str, Step] = {}
        for step in self.steps:
            for name, binding in step.bindings().items():
                if binding.source == "pipeline" and binding.name not in self.inputs:
                    raise ValueError(f"step {step.name!r} input {name!r}: no pipeline input {binding.name!r}")
                if binding.source == "step":
                    producer = seen.get(binding.step or "")
                    if producer is None or binding.name not in producer.outputs:
                        raise ValueError(
                            f"step {step.name!r} input {name!r}: no earlier step output "
                            f"'{binding.step}.outputs.{binding.name}'"
                        )
            declared: dict[str, Mapping[str, object]] = {
                "inputs": step.inputs,
                "outputs": step.outputs,
                "parameters": self.parameters,
            }
            if step.shards is not None:
                _check_shards(step, self.parameters)
                declared["parameters"] = {**self.parameters, **dict.fromkeys(SHARD_PARAMETERS, step.shards)}
            for kind, name in step.placeholders():
                if name not in declared[kind]:
                    raise ValueError(f"step {step.name!r} command uses undeclared {kind}.{name}")
            seen[step.name] = step
        result = Binding.parse(self.result)
        if result.source != "step" or result.name not in seen.get(result.step or "", self.steps[0]).outputs:
            raise ValueError(f"result {self.result!r} is not a step output")
        return self

    def with_shards(self, count: int | None) -> PipelineSpec:
        """The spec with every sharded step run as ``count`` instances (``None``: as written)."""
        if count is None:
            return self
        steps = []
        for step in self.steps:
            if step.shards is not None:
                resources = {
                    cloud: values | {"instance_count": count} if "instance_count" in values else values
                    for cloud, values in step.resources.items()
                }
                step = step.model_copy(update={"shards": Shards(count=count), "resources": resources})
            steps.append(step)
        return self.model_copy(update={"steps": steps})

    def step(self, name: str) -> Step:
        for step in self.steps:
            if step.name == name:
                return step
        raise KeyError(name)

    def parameter_values(self, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
        values = {name: p.default for name, p in self.parameters.items()}
        unknown = set(overrides or {}) - set(values)
        if unknown:
            raise ValueError(f"unknown pipeline parameter(s): {', '.join(sorted(unknown))}")
        return values | {k: v for k, v in (overrides or {}).items() if v is not None}

    def result_binding(self) -> Binding:
        return Binding.parse(self.result)


def _check_shards(step: Step, parameters: Mapping[str, Parameter]) -> None:
    """A sharded step must pass both shard values to its command, and the names are the backend's."""
    clash = [name for name in SHARD_PARAMETERS if name in parameters]
    if clash:
        raise ValueError(f"pipeline parameter(s) {', '.join(clash)} are reserved for sharded steps")
    used = {name for kind, name in step.placeholders() if kind == "parameters"}
    missing = [name for name in SHARD_PARAMETERS if name not in used]
    if missing:
        raise ValueError(
            f"step {step.name!r} has shards but its command does not use "
            + ", ".join(f"${{{{parameters.{name}}}}}" for name in missing)
        )


def load_spec(path: Path | None = None) -> PipelineSpec:
    """Read and validate the spec; a wiring mistake fails here, before any backend sees it."""
    source = path or DEFAULT_SPEC
    return PipelineSpec.model_validate(yaml.safe_load(source.read_text()))
