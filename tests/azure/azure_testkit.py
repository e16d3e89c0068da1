"""Constants and the fake credential shared by the azure backend tests (conftest holds the fixtures)."""

from __future__ import annotations

import time
from typing import Any

import jwt
from azure.core.credentials import AccessToken

DIGEST = "sha256:" + "3f" * 32
IMAGE = f"crgridcastdev.azurecr.io/gridcast@{DIGEST}"
JOB_IDENTITY = "5f0c2b7e-8d4a-4a51-b3c2-93e1d0c7a6f4"
SUBSCRIPTION = "00000000-0000-0000-0000-0000000000a1"


class FakeCredential:
    """MOCK (there is no Entra ID here): a TokenCredential minting unsigned JWTs for any scope.

    The SDK decodes the AzureML-scoped token to check its audience, so the token is a real JWT
    whose ``aud`` is the requested resource.
    """

    def __init__(self) -> None:
        self.scopes: list[str] = []

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        self.scopes.extend(scopes)
        audience = scopes[0].removesuffix("/.default")
        claims = {
            "aud": audience,
            "tid": "00000000-0000-0000-0000-0000000000t1",
            "oid": "ci",
            "exp": time.time() + 3600,
        }
        return AccessToken(jwt.encode(claims, "not-a-secret-" * 3, algorithm="HS256"), int(time.time()) + 3600)


# The result files a predict step writes (shapes as ml/steps/predict.py writes them).
OVERLOAD_REPORT: dict[str, Any] = {
    "limit_kw": 85.0,
    "horizon_start": "2024-12-31T00:00:00",
    "horizon_end": "2029-12-30T23:00:00",
    "first_overload_at": "2026-12-13T00:00:00",
    "first_overload_earliest": "2026-11-23T00:00:00",
    "first_overload_latest": "2027-11-24T00:00:00",
    "overload_hours": 7678,
    "overload_hours_range": [5162, 10347],
    "overload_episodes": 414,
    "max_predicted_kw": 101.553,
    "max_predicted_at": "2029-12-30T00:00:00",
    "interval_coverage": 0.8,
    "first_overload_p10": "2025-12-10T21:00:00",
    "first_overload_p50": "2025-12-22T00:00:00",
    "first_overload_p90": "2026-01-04T00:00:00",
    "p_overload_by_year_end": {"2024": 0.0, "2025": 0.875, "2026": 1.0, "2027": 1.0, "2028": 1.0, "2029": 1.0},
    "simulation_draws": 200,
    "trend": "linear",
    "level_shifts": [],
    "model_uri": "models:/transformer_load_forecast@champion",
    "model_version": "4",
    "run_id": "0852995d071f452e89cb3ba3af845b07",
    "data_sha256": "08d71b2b76fffb280189012f9009fda670347f57f0769e33049fe6c77a4d6542",
    "data_repairs": [],
    "growth_kw_per_year": 5.0108,
    "challenger": {
        "promoted": False,
        "reason": "test RMSE 3.412 kW exceeds 3.000 kW",
        "candidate_version": "4",
        "champion_version": "3",
        "threshold_kw": 3.0,
    },
}
