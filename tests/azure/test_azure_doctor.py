"""`runner doctor --backend azure` against the loopback workspace: all checks pass on the deployed fake,
and each check fails in turn, alone, with its fix, when what it checks is broken."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import ClientAuthenticationError
from azure_testkit import IMAGE, FakeCredential
from azureml_loopback import FakeAzureML, Scenario
from typer.testing import CliRunner

from runners.cli import app

CHECKS = ["stack outputs", "identity", "workspace", "workspace data plane", "compute and job identity", "image"]


class NoLogin(FakeCredential):
    """MOCK: what DefaultAzureCredential raises when no sign-in method works."""

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        raise ClientAuthenticationError(
            "DefaultAzureCredential failed to retrieve a token from the included credentials."
        )


@pytest.fixture
def doctor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stack_outputs: dict[str, Any]) -> Callable[..., Any]:
    import runners.azure.client

    def invoke(fake: FakeAzureML, credential: FakeCredential | None = None, **changes: Any) -> Any:
        monkeypatch.setattr(runners.azure.client, "default_credential", lambda: credential or FakeCredential())
        monkeypatch.setenv("COLUMNS", "250")
        outputs = tmp_path / "stack-outputs.json"
        outputs.write_text(json.dumps(stack_outputs | changes))
        args = ["doctor", "--backend", "azure", "--stack-outputs", str(outputs), "--image", IMAGE]
        return CliRunner().invoke(app, [*args, "--endpoint-url", fake.url])

    return invoke


def checklist(output: str) -> dict[str, str]:
    found: dict[str, str] = {}
    current = ""
    for line in output.splitlines():
        text = " ".join(line.split())
        for mark in ("ok", "FAIL"):
            if text.startswith(f"{mark} ") and ":" in text:
                current = text.split(" ", 1)[1].split(":", 1)[0]
                found[current] = text
        if text.startswith("fix:") and current:
            found[current] += " " + text
    return found


def test_all_checks_pass_on_the_default_stack(
    workspace: Callable[..., FakeAzureML], doctor: Callable[..., Any]
) -> None:
    result = doctor(workspace())
    assert result.exit_code == 0, result.output
    assert list(checklist(result.output)) == CHECKS
    assert "public endpoint, Entra ID only" in result.output and "all 6 checks passed" in result.output


def test_a_private_workspace_passes_from_its_private_network(
    workspace: Callable[..., FakeAzureML], doctor: Callable[..., Any]
) -> None:
    result = doctor(workspace(Scenario(public_network_access="Disabled", caller_on_private_network=True)))
    assert result.exit_code == 0, result.output
    assert "public network access disabled" in result.output


BREAKS: list[tuple[str, dict[str, Any], dict[str, Any], bool, str, str]] = [
    # check, scenario, stack output changes, signed in, detail, fix
    ("identity", {}, {}, False, "no token for Azure Resource Manager", "azure/login with client-id"),
    ("workspace", {}, {"workspace_name": "mlw-other"}, True, "mlw-other", "AzureML Data Scientist"),
    ("workspace data plane", {"public_network_access": "Disabled"}, {}, True, "Public network access is disabled",
     "self-hosted runner"),
    ("compute and job identity", {"computes": set()}, {}, True, "compute cpu-cluster", "compute_target"),
    ("compute and job identity", {"compute_identities": {}}, {}, True, "does not carry the job identity", "pulumi up"),
    ("image", {"images": set()}, {}, True, "is not in crgridcastdev.azurecr.io", "push the image"),
]  # fmt: skip


@pytest.mark.parametrize(("check", "scenario", "changes", "signed_in", "detail", "fix"), BREAKS,
                         ids=[f"{b[0]}: {b[4][:30]}" for b in BREAKS])  # fmt: skip
def test_each_check_fails_alone_with_its_fix(
    check: str,
    scenario: dict[str, Any],
    changes: dict[str, Any],
    signed_in: bool,
    detail: str,
    fix: str,
    workspace: Callable[..., FakeAzureML],
    doctor: Callable[..., Any],
) -> None:
    result = doctor(workspace(Scenario(**scenario)), None if signed_in else NoLogin(), **changes)
    assert result.exit_code == 1, result.output
    failed = {name: text for name, text in checklist(result.output).items() if text.startswith("FAIL")}
    assert list(failed) == [check], result.output
    assert detail in failed[check] and "fix: " in failed[check] and fix in failed[check], failed[check]
    assert "Traceback" not in result.output


def test_the_preflight_stops_a_submission_before_anything_is_sent(
    workspace: Callable[..., FakeAzureML], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    stack_outputs: dict[str, Any], load_csv: Path,
) -> None:  # fmt: skip
    import runners.azure.client

    monkeypatch.setattr(runners.azure.client, "default_credential", FakeCredential)
    monkeypatch.setenv("GRIDCAST_HOME", str(tmp_path / "state"))
    fake = workspace(Scenario(public_network_access="Disabled"))
    outputs = tmp_path / "stack-outputs.json"
    outputs.write_text(json.dumps(stack_outputs))
    args = ["--backend", "azure", "--stack-outputs", str(outputs), "--image", IMAGE, "--data", str(load_csv)]
    result = CliRunner().invoke(app, [*args, "--endpoint-url", fake.url])
    assert result.exit_code == 1
    assert "nothing was submitted" in result.output
    writes = [r for r in fake.requests if r.method in ("PUT", "POST") and not r.path.startswith("/acr/")]
    assert writes == []  # no upload, no job (the registry's token exchange is a read)
