"""Settings for TTLs, the rate limit, the reaper and leader election (issue 5)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.config import AppSettings, SettingsError, load_settings


@pytest.fixture(autouse=True)
def no_settings_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("APPSETTINGS_PATH", raising=False)


def test_defaults() -> None:
    settings = AppSettings()
    assert settings.kubernetes.max_ttl_seconds == 86400
    assert settings.kubernetes.default_ttl_seconds is None
    assert settings.kubernetes.max_creations_per_minute is None
    lifecycle = settings.lifecycle
    assert lifecycle.reaper_enabled
    assert (lifecycle.max_pending_seconds, lifecycle.completed_retention_seconds) == (900, 300)
    assert lifecycle.expiring_notice_seconds == 60
    election = lifecycle.leader_election
    assert (election.namespace, election.lease_name) == (
        "kata-sandbox-system",
        "kata-sandbox-api-reaper",
    )
    assert (
        election.lease_duration_seconds,
        election.renew_deadline_seconds,
        election.retry_period_seconds,
    ) == (15, 10, 2)


def test_environment_overrides_nested_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("Kubernetes__MaxCreationsPerMinute", "10")
    monkeypatch.setenv("KUBERNETES__DEFAULTTTLSECONDS", "3600")
    monkeypatch.setenv("Lifecycle__ReaperIntervalSeconds", "0.5")
    monkeypatch.setenv("Lifecycle__LeaderElection__LeaseDurationSeconds", "30")
    settings = load_settings()
    assert settings.kubernetes.max_creations_per_minute == 10
    assert settings.kubernetes.default_ttl_seconds == 3600
    assert settings.lifecycle.reaper_interval_seconds == 0.5
    assert settings.lifecycle.leader_election.lease_duration_seconds == 30
    assert settings.lifecycle.leader_election.lease_name == "kata-sandbox-api-reaper"


def test_a_file_sets_part_of_a_nested_section(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = tmp_path / "settings.json"
    path.write_text(
        json.dumps(
            {"Lifecycle": {"MaxPendingSeconds": None, "LeaderElection": {"LeaseName": "mine"}}}
        )
    )
    monkeypatch.setenv("APPSETTINGS_PATH", str(path))
    settings = load_settings()
    assert settings.lifecycle.max_pending_seconds is None
    assert settings.lifecycle.leader_election.lease_name == "mine"
    assert settings.lifecycle.leader_election.renew_deadline_seconds == 10


@pytest.mark.parametrize(
    ("variables", "key", "message"),
    [
        (
            {"Kubernetes__DefaultTtlSeconds": "7200", "Kubernetes__MaxTtlSeconds": "3600"},
            "Kubernetes.DefaultTtlSeconds",
            "exceeds MaxTtlSeconds",
        ),
        ({"Kubernetes__MaxCreationsPerMinute": "0"}, "Kubernetes.MaxCreationsPerMinute", ""),
        (
            {"Lifecycle__LeaderElection__RenewDeadlineSeconds": "15"},
            "Lifecycle.LeaderElection.RenewDeadlineSeconds",
            "less than LeaseDurationSeconds",
        ),
        (
            {"Lifecycle__LeaderElection__RetryPeriodSeconds": "9"},
            "Lifecycle.LeaderElection.RetryPeriodSeconds",
            "less than RenewDeadlineSeconds",
        ),
        (
            {"Lifecycle__LeaderElection__Namespace": "Not_A_Namespace"},
            "Lifecycle.LeaderElection.Namespace",
            "not a valid namespace",
        ),
        ({"Lifecycle__ExpiringNoticeSeconds": "-1"}, "Lifecycle.ExpiringNoticeSeconds", ""),
        ({"Lifecycle__Reaperinterval": "1"}, "Lifecycle.Reaperinterval", "unknown setting"),
    ],
)
def test_invalid_settings_name_their_key(
    monkeypatch: pytest.MonkeyPatch, variables: dict[str, str], key: str, message: str
) -> None:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as error:
        load_settings()
    assert error.value.key == key
    assert message in str(error.value)


def test_the_shipped_settings_enable_the_rate_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    shipped = Path(__file__).resolve().parents[2] / "manifests" / "base" / "appsettings.json"
    monkeypatch.setenv("APPSETTINGS_PATH", str(shipped))
    settings = load_settings()
    assert settings.kubernetes.max_creations_per_minute == 10
    assert settings.lifecycle.leader_election.lease_name == "kata-sandbox-api-reaper"
