"""The numbers a user can pass, and their bounds: checked by the step commands and by the ``runner``.

Both check, because a container (or a cloud job) calls the steps directly: ``--threshold-kw nan``
must be refused there too, not only by the runner. A refused value is one line and exit code 2,
before anything is read, registered or written. Import-light on purpose (pydantic only): the
``runner`` validates its options with these models before it starts any step.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

MAX_LIMIT_KW = 1_000_000.0
"""1 GW: beyond any transformer; a larger number is a unit mistake."""
MAX_HORIZON_YEARS = 30.0
"""The model extrapolates a trend; past a few decades that is no longer a forecast."""
MAX_THRESHOLD_KW = 1_000_000.0

Kilowatts = Annotated[float, Field(gt=0, le=MAX_LIMIT_KW, allow_inf_nan=False)]
Years = Annotated[float, Field(ge=0.01, le=MAX_HORIZON_YEARS, allow_inf_nan=False)]
Threshold = Annotated[float, Field(ge=0, le=MAX_THRESHOLD_KW, allow_inf_nan=False)]
"""0: no cap (the default gate is scale-free; see ml/steps/promote.py)."""


class OptionError(ValueError):
    """An option's value is refused; the message names the option, the value and the allowed range."""


class PipelineParameters(BaseModel):
    """The pipeline spec's parameters as the user gave them (``None``: the spec's default).

    Unknown names pass through unchecked (``extra="allow"``), so a new spec parameter needs only
    its CLI option; give it a field here when it has bounds.
    """

    model_config = ConfigDict(extra="allow")

    limit_kw: Kilowatts | None = None
    horizon_years: Years | None = None
    threshold_kw: Threshold | None = None


def option_name(field: str) -> str:
    return "--" + field.replace("_", "-")


def one_line(exc: ValidationError, given: dict[str, Any]) -> str:
    """The first problem as ``--limit-kw inf: must be a finite number ...``."""
    problem = exc.errors()[0]
    field = str(problem["loc"][0]) if problem["loc"] else ""
    value = given.get(field, problem.get("input"))
    why = problem["msg"].replace("Input should be", "must be").replace("Value error, ", "")
    if problem["type"] == "finite_number":
        why = "must be a finite number"
    return f"{option_name(field)} {value!r}: {why}"


def check_parameters(values: dict[str, Any]) -> dict[str, Any]:
    """``values`` unchanged if every bounded one is in range, else :class:`OptionError` (one line)."""
    try:
        PipelineParameters.model_validate(values)
    except ValidationError as exc:
        raise OptionError(one_line(exc, values)) from None
    return values


def is_usage_error(exc: BaseException) -> bool:
    """Click's usage errors (typer vendors click, so match the shape rather than a private class)."""
    return hasattr(exc, "format_message") and getattr(exc, "exit_code", None) == 2
