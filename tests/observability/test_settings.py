"""``Server.LogFormat`` and ``Server.ShutdownTimeoutSeconds``: defaults, overrides, checks, and
the shutdown deadline fitting inside the pod's termination grace period."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

from app.config import SettingsError, load_settings

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if "__" in name:
            monkeypatch.delenv(name)
    monkeypatch.delenv("APPSETTINGS_PATH", raising=False)
    monkeypatch.chdir(tmp_path)


def test_defaults() -> None:
    server = load_settings().server
    assert server.log_format == "json"
    assert server.shutdown_timeout_seconds == 25


def test_from_the_file_and_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "appsettings.json").write_text(
        json.dumps({"Server": {"LogFormat": "TEXT", "ShutdownTimeoutSeconds": 40}})
    )
    server = load_settings().server
    assert (server.log_format, server.shutdown_timeout_seconds) == ("text", 40)
    monkeypatch.setenv("Server__ShutdownTimeoutSeconds", "7.5")
    monkeypatch.setenv("SERVER__LOGFORMAT", "json")
    server = load_settings().server
    assert (server.log_format, server.shutdown_timeout_seconds) == ("json", 7.5)


@pytest.mark.parametrize(
    ("variable", "value", "key", "says"),
    [
        ("Server__LogFormat", "xml", "Server.LogFormat", "is not one of json, text"),
        ("Server__ShutdownTimeoutSeconds", "0", "Server.ShutdownTimeoutSeconds", "greater than 0"),
        ("Server__ShutdownTimeoutSeconds", "-1", "Server.ShutdownTimeoutSeconds", "greater than"),
        ("Server__ShutdownTimeoutSeconds", "3601", "Server.ShutdownTimeoutSeconds", "3600"),
        ("Server__ShutdownTimeoutSeconds", "soon", "Server.ShutdownTimeoutSeconds", "number"),
    ],
)
def test_invalid_values_stop_startup_naming_the_key(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, key: str, says: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert caught.value.key == key
    assert says in str(caught.value)
    assert variable in str(caught.value)  # "(from environment variable ...)"


def test_the_deadline_fits_the_pods_termination_grace_period() -> None:
    """The kubelet kills at terminationGracePeriodSeconds: the app must be done before."""
    deployment = yaml.safe_load((REPO_ROOT / "manifests/base/deployment.yaml").read_text())
    grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    shipped = json.loads((REPO_ROOT / "manifests/base/appsettings.json").read_text())
    timeout = shipped.get("Server", {}).get("ShutdownTimeoutSeconds")
    if timeout is None:
        timeout = load_settings().server.shutdown_timeout_seconds
    assert timeout + 2 <= grace
