"""The security settings: tokens file (also API_TOKENS_PATH), auth switch, limits, registries."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from app.config import KubernetesSettings, SettingsError, load_settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if "__" in name and name.split("__")[0].lower() in ("kubernetes", "server"):
            monkeypatch.delenv(name)
    monkeypatch.delenv("APPSETTINGS_PATH", raising=False)
    monkeypatch.delenv("API_TOKENS_PATH", raising=False)
    monkeypatch.chdir(tmp_path)


def expect_error(key: str) -> SettingsError:
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert caught.value.key == key
    return caught.value


def test_defaults() -> None:
    settings = load_settings()
    server = settings.server
    assert server.api_tokens_path is None
    assert server.auth_disabled is False
    assert server.max_request_body_bytes == 512 * 1024
    assert server.max_sandboxes_per_tenant == 50
    assert server.max_subscriptions_per_tenant == 100
    assert settings.kubernetes.allowed_image_registries == ()


def test_tokens_path_from_api_tokens_path_below_the_section_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "appsettings.json").write_text(
        json.dumps({"Server": {"ApiTokensPath": "/from/file.json"}})
    )
    assert load_settings().server.api_tokens_path == Path("/from/file.json")
    monkeypatch.setenv("API_TOKENS_PATH", "/from/alias.json")
    assert load_settings().server.api_tokens_path == Path("/from/alias.json")
    monkeypatch.setenv("Server__ApiTokensPath", "/from/section.json")
    assert load_settings().server.api_tokens_path == Path("/from/section.json")


def test_an_empty_api_tokens_path_is_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_TOKENS_PATH", "  ")
    assert load_settings().server.api_tokens_path is None


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("Server__AuthDisabled", "true")
    monkeypatch.setenv("SERVER__MAXSANDBOXESPERTENANT", "7")
    monkeypatch.setenv("Server__MaxSubscriptionsPerTenant", "9")
    monkeypatch.setenv("Server__MaxRequestBodyBytes", "65536")
    monkeypatch.setenv("Kubernetes__AllowedImageRegistries", "ghcr.io/org/, Registry.Example:5000")
    settings = load_settings()
    assert settings.server.auth_disabled is True
    assert settings.server.max_sandboxes_per_tenant == 7
    assert settings.server.max_subscriptions_per_tenant == 9
    assert settings.server.max_request_body_bytes == 65536
    # Hosts are case-insensitive (lowered), a trailing '/' is dropped.
    assert settings.kubernetes.allowed_image_registries == ("ghcr.io/org", "registry.example:5000")


def test_null_means_unlimited(tmp_path: Path) -> None:
    (tmp_path / "appsettings.json").write_text(
        json.dumps({"Server": {"MaxSandboxesPerTenant": None, "MaxSubscriptionsPerTenant": None}})
    )
    server = load_settings().server
    assert server.max_sandboxes_per_tenant is None
    assert server.max_subscriptions_per_tenant is None


@pytest.mark.parametrize(
    ("variable", "value", "key"),
    [
        ("Server__MaxRequestBodyBytes", "100", "Server.MaxRequestBodyBytes"),
        ("Server__MaxRequestBodyBytes", str(64 * 1024 * 1024), "Server.MaxRequestBodyBytes"),
        ("Server__MaxSandboxesPerTenant", "0", "Server.MaxSandboxesPerTenant"),
        ("Server__MaxSubscriptionsPerTenant", "-1", "Server.MaxSubscriptionsPerTenant"),
        ("Server__AuthDisabled", "maybe", "Server.AuthDisabled"),
        (
            "Kubernetes__AllowedImageRegistries",
            "https://ghcr.io",
            "Kubernetes.AllowedImageRegistries",
        ),
        (
            "Kubernetes__AllowedImageRegistries",
            "ghcr.io/Org Name",
            "Kubernetes.AllowedImageRegistries",
        ),
        ("Kubernetes__AllowedImageRegistries", "ghcr.io:abc", "Kubernetes.AllowedImageRegistries"),
    ],
)
def test_invalid_values_name_the_setting_and_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, key: str
) -> None:
    monkeypatch.setenv(variable, value)
    error = expect_error(key)
    assert variable in str(error)


def test_the_registry_path_is_checked_like_an_image_path() -> None:
    """Repository paths are lower case, as in image references."""
    with pytest.raises(ValueError, match="not a registry"):
        KubernetesSettings(allowed_image_registries=("ghcr.io/UPPER",))
    assert KubernetesSettings(allowed_image_registries=("GHCR.io",)).allowed_image_registries == (
        "ghcr.io",
    )
