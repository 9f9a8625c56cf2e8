import json
import os
from pathlib import Path
from typing import Any

import pytest

from app.config import (
    MAX_POD_NAME_PREFIX_LENGTH,
    AppSettings,
    KubernetesSettings,
    ResourceAmountSettings,
    SettingsError,
    load_settings,
)

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No settings from the developer's environment or working directory leak into a test."""
    for name in list(os.environ):
        first = name.split("__")[0].lower()
        if "__" in name and first in ("kubernetes", "server"):
            monkeypatch.delenv(name)
    monkeypatch.delenv("APPSETTINGS_PATH", raising=False)
    monkeypatch.chdir(tmp_path)


def write_settings(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def expect_error(key: str) -> SettingsError:
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert caught.value.key == key
    assert key in str(caught.value)
    return caught.value


def test_defaults_without_a_file() -> None:
    settings = load_settings()
    kubernetes = settings.kubernetes
    assert kubernetes.target_namespace == "sandbox-containers"
    assert kubernetes.runtime_class_name == "kata-qemu"
    assert kubernetes.default_resource_requests == ResourceAmountSettings(
        memory_mi=256, cpu_millicores=250
    )
    assert kubernetes.default_resource_limits == ResourceAmountSettings(
        memory_mi=512, cpu_millicores=500
    )
    assert kubernetes.max_resource_limits == ResourceAmountSettings(
        memory_mi=4096, cpu_millicores=2000
    )
    assert kubernetes.runtime_class_overhead_fallback == ResourceAmountSettings(
        memory_mi=160, cpu_millicores=250
    )
    assert kubernetes.pod_name_prefix == "kata-sandbox"
    assert kubernetes.cleanup_completed_pods is True
    assert kubernetes.default_ready_timeout_seconds == 90
    assert kubernetes.max_ready_timeout_seconds == 600
    assert kubernetes.kubeconfig_path is None
    assert settings.server.log_level == "INFO"
    assert settings.server.allowed_websocket_origins == ()
    assert (settings.server.default_page_size, settings.server.max_page_size) == (50, 200)


def test_reads_the_seed_file_from_the_working_directory(tmp_path: Path) -> None:
    write_settings(
        tmp_path / "appsettings.json",
        {
            "Kubernetes": {
                "TargetNamespace": "sandboxes",
                "RuntimeClassName": "kata-clh",
                "DefaultResourceRequests": {"MemoryMi": 128, "CpuMillicores": 100},
                "DefaultResourceLimits": {"MemoryMi": 1024, "CpuMillicores": 1000},
                "PodNamePrefix": "sbx",
                "CleanupCompletedPods": False,
            },
            "Logging": {"LogLevel": {"Default": "Information"}},
            "AllowedHosts": "*",
        },
    )
    kubernetes = load_settings().kubernetes
    assert kubernetes.target_namespace == "sandboxes"
    assert kubernetes.runtime_class_name == "kata-clh"
    assert kubernetes.default_resource_requests.memory_mi == 128
    assert kubernetes.default_resource_limits.cpu_millicores == 1000
    assert kubernetes.pod_name_prefix == "sbx"
    assert kubernetes.cleanup_completed_pods is False


def test_the_checked_in_manifest_settings_load(monkeypatch: pytest.MonkeyPatch) -> None:
    shipped = REPO_ROOT / "manifests" / "base" / "appsettings.json"
    if not shipped.exists():
        pytest.skip("manifests/base/appsettings.json is not in this checkout")
    monkeypatch.setenv("APPSETTINGS_PATH", str(shipped))
    assert load_settings().kubernetes.target_namespace == "sandbox-containers"


def test_appsettings_path_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_settings(tmp_path / "elsewhere.json", {"Kubernetes": {"TargetNamespace": "x"}})
    monkeypatch.setenv("APPSETTINGS_PATH", str(path))
    assert load_settings().kubernetes.target_namespace == "x"


def test_explicit_missing_file_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APPSETTINGS_PATH", "/nonexistent/appsettings.json")
    error = expect_error("APPSETTINGS_PATH")
    assert "does not exist" in str(error)


@pytest.mark.parametrize("content", ["{", "[1, 2]", '"text"'])
def test_unreadable_file_is_an_error(tmp_path: Path, content: str) -> None:
    (tmp_path / "appsettings.json").write_text(content, encoding="utf-8")
    expect_error("APPSETTINGS_PATH")


def test_partial_amounts_keep_the_other_default(tmp_path: Path) -> None:
    write_settings(
        tmp_path / "appsettings.json",
        {"Kubernetes": {"DefaultResourceRequests": {"MemoryMi": 300}}},
    )
    requests = load_settings().kubernetes.default_resource_requests
    assert (requests.memory_mi, requests.cpu_millicores) == (300, 250)


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_settings(
        tmp_path / "appsettings.json",
        {
            "Kubernetes": {
                "TargetNamespace": "from-file",
                "RuntimeClassName": "from-file",
                "DefaultResourceLimits": {"MemoryMi": 1024, "CpuMillicores": 1000},
            }
        },
    )
    monkeypatch.setenv("Kubernetes__TargetNamespace", "from-env")
    monkeypatch.setenv("Kubernetes__DefaultResourceLimits__MemoryMi", "2048")
    monkeypatch.setenv("Kubernetes__CleanupCompletedPods", "false")
    kubernetes = load_settings().kubernetes
    assert kubernetes.target_namespace == "from-env"
    assert kubernetes.runtime_class_name == "from-file"
    assert kubernetes.default_resource_limits == ResourceAmountSettings(
        memory_mi=2048, cpu_millicores=1000
    )
    assert kubernetes.cleanup_completed_pods is False


def test_environment_names_are_case_insensitive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBERNETES__TARGETNAMESPACE", "upper")
    monkeypatch.setenv("kubernetes__maxresourcelimits__cpumillicores", "4000")
    monkeypatch.setenv("SERVER__LOGLEVEL", "debug")
    settings = load_settings()
    assert settings.kubernetes.target_namespace == "upper"
    assert settings.kubernetes.max_resource_limits.cpu_millicores == 4000
    assert settings.kubernetes.max_resource_limits.memory_mi == 4096
    assert settings.server.log_level == "DEBUG"


def test_unrelated_environment_variables_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    monkeypatch.setenv("Other__Thing", "x")
    monkeypatch.setenv("Kubernetes", "not nested")
    assert load_settings().kubernetes.target_namespace == "sandbox-containers"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("https://app.example.com", ("https://app.example.com",)),
        (
            "http://localhost:3000, https://A.example.com",
            ("http://localhost:3000", "https://a.example.com"),
        ),
        ('["http://127.0.0.1:8000", "*"]', ("http://127.0.0.1:8000", "*")),
        ("", ()),
    ],
)
def test_websocket_origins_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: tuple[str, ...]
) -> None:
    monkeypatch.setenv("Server__AllowedWebsocketOrigins", value)
    assert load_settings().server.allowed_websocket_origins == expected


@pytest.mark.parametrize(
    ("variable", "value", "key"),
    [
        ("Kubernetes__TargetNamespace", "Not_A_Label", "Kubernetes.TargetNamespace"),
        ("Kubernetes__TargetNamespace", "a" * 64, "Kubernetes.TargetNamespace"),
        ("Kubernetes__RuntimeClassName", "Kata QEMU", "Kubernetes.RuntimeClassName"),
        ("Kubernetes__PodNamePrefix", "-sandbox", "Kubernetes.PodNamePrefix"),
        ("Kubernetes__PodNamePrefix", "kata.sandbox", "Kubernetes.PodNamePrefix"),
        ("Kubernetes__PodNamePrefix", "Kata", "Kubernetes.PodNamePrefix"),
        (
            "Kubernetes__PodNamePrefix",
            "a" * (MAX_POD_NAME_PREFIX_LENGTH + 1),
            "Kubernetes.PodNamePrefix",
        ),
        (
            "Kubernetes__DefaultResourceLimits__MemoryMi",
            "0",
            "Kubernetes.DefaultResourceLimits.MemoryMi",
        ),
        (
            "Kubernetes__DefaultResourceLimits__MemoryMi",
            "lots",
            "Kubernetes.DefaultResourceLimits.MemoryMi",
        ),
        (
            "Kubernetes__DefaultResourceLimits__MemoryMi",
            "8192",
            "Kubernetes.DefaultResourceLimits.MemoryMi",
        ),
        (
            "Kubernetes__DefaultResourceLimits__CpuMillicores",
            "100",
            "Kubernetes.DefaultResourceRequests.CpuMillicores",
        ),
        (
            "Kubernetes__DefaultResourceRequests__MemoryMi",
            "1024",
            "Kubernetes.DefaultResourceRequests.MemoryMi",
        ),
        ("Kubernetes__DefaultReadyTimeoutSeconds", "601", "Kubernetes.DefaultReadyTimeoutSeconds"),
        ("Kubernetes__MaxReadyTimeoutSeconds", "7200", "Kubernetes.MaxReadyTimeoutSeconds"),
        ("Kubernetes__DefaultScratchSizeMi", "20000", "Kubernetes.DefaultScratchSizeMi"),
        ("Kubernetes__CleanupCompletedPods", "maybe", "Kubernetes.CleanupCompletedPods"),
        ("Kubernetes__KubeconfigPath", "/nonexistent/kubeconfig", "Kubernetes.KubeconfigPath"),
        ("Kubernetes__TargetNamespce", "typo", "Kubernetes.TargetNamespce"),
        ("Server__LogLevel", "LOUD", "Server.LogLevel"),
        ("Server__AllowedWebsocketOrigins", "example.com", "Server.AllowedWebsocketOrigins"),
        ("Server__AllowedWebsocketOrigins", "https://a.com/path", "Server.AllowedWebsocketOrigins"),
        ("Server__DefaultPageSize", "500", "Server.DefaultPageSize"),
        ("Server__MaxPageSize", "0", "Server.MaxPageSize"),
    ],
)
def test_invalid_settings_name_their_key(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, key: str
) -> None:
    monkeypatch.setenv(variable, value)
    error = expect_error(key)
    if variable.replace("__", ".") == key:
        assert f"(from environment variable {variable})" in str(error)


def test_invalid_file_settings_name_their_key(tmp_path: Path) -> None:
    write_settings(
        tmp_path / "appsettings.json",
        {"Kubernetes": {"DefaultResourceLimits": {"MemoryMi": 5000, "CpuMillicores": 500}}},
    )
    error = expect_error("Kubernetes.DefaultResourceLimits.MemoryMi")
    assert "MaxResourceLimits.MemoryMi (4096)" in str(error)
    assert "environment variable" not in str(error)


def test_every_problem_is_reported(tmp_path: Path) -> None:
    write_settings(
        tmp_path / "appsettings.json",
        {"Kubernetes": {"TargetNamespace": "BAD", "PodNamePrefix": "BAD", "Extra": 1}},
    )
    with pytest.raises(SettingsError) as caught:
        load_settings()
    keys = {problem.key for problem in caught.value.problems}
    assert keys == {"Kubernetes.TargetNamespace", "Kubernetes.PodNamePrefix", "Kubernetes.Extra"}


def test_file_keys_match_case_insensitively(tmp_path: Path) -> None:
    write_settings(tmp_path / "appsettings.json", {"kubernetes": {"targetNamespace": "lower"}})
    assert load_settings().kubernetes.target_namespace == "lower"


def test_kubeconfig_path_is_expanded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\n", encoding="utf-8")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("Kubernetes__KubeconfigPath", "~/kubeconfig")
    assert load_settings().kubernetes.kubeconfig_path == kubeconfig


def test_sections_can_be_built_directly_for_tests() -> None:
    kubernetes = KubernetesSettings(target_namespace="test-ns", pod_name_prefix="t")
    assert kubernetes.default_resource_limits.memory_mi == 512
    settings = AppSettings(kubernetes=kubernetes)
    assert settings.kubernetes.target_namespace == "test-ns"
