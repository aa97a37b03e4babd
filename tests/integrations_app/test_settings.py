from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[2]


def load_settings(**env: str) -> subprocess.CompletedProcess[str]:
    environment = {
        k: v
        for k, v in os.environ.items()
        if k not in {"SECRET_KEY", "FIELD_ENCRYPTION_KEYS"}
    }
    environment.update(env)
    return subprocess.run(
        [sys.executable, "-c", "import monitor_project.settings"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize(
    "env, complaint",
    [
        ({}, "SECRET_KEY"),
        ({"SECRET_KEY": "x" * 50}, "FIELD_ENCRYPTION_KEYS"),
        (
            {"SECRET_KEY": "x" * 50, "FIELD_ENCRYPTION_KEYS": "not-a-key"},
            "not a Fernet key",
        ),
        (
            {
                "SECRET_KEY": "x" * 50,
                "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
                "MONITOR_ALLOWED_NETWORKS": "10.0.0.0/33",
            },
            "MONITOR_ALLOWED_NETWORKS",
        ),
    ],
)
def test_production_refuses_to_start_without_real_secrets(
    env: dict[str, str], complaint: str
) -> None:
    result = load_settings(DEBUG="false", **env)

    assert result.returncode != 0
    assert complaint in result.stderr


def test_production_starts_with_its_secrets() -> None:
    result = load_settings(
        DEBUG="false",
        SECRET_KEY="x" * 50,
        FIELD_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
    )

    assert result.returncode == 0, result.stderr
