"""The ``Lifecycle`` section: the reaper, expiry notices and the leader election behind them.

Keys (each also an environment variable, ``Lifecycle__ReaperIntervalSeconds=2``):

- ``Lifecycle.ReaperEnabled`` = true — run the reaper (on the elected replica only).
- ``Lifecycle.ReaperIntervalSeconds`` = 5 — how often the leader looks for sandboxes to delete.
- ``Lifecycle.MaxPendingSeconds`` = 900 — a sandbox Pending longer is deleted (reason STUCK);
  null disables it.
- ``Lifecycle.CompletedRetentionSeconds`` = 300 — with ``Kubernetes.CleanupCompletedPods``, a
  finished sandbox is deleted (reason COMPLETED) this long after it finished, so its exit code,
  diagnosis and logs can still be read for a while.
- ``Lifecycle.ExpiringNoticeSeconds`` = 60 — subscribers get EXPIRING this long before a TTL ends.
- ``Lifecycle.LeaderElection.Namespace`` = kata-sandbox-system — where the Lease lives (the
  service's own namespace; its RBAC is granted there only).
- ``Lifecycle.LeaderElection.LeaseName`` = kata-sandbox-api-reaper.
- ``Lifecycle.LeaderElection.LeaseDurationSeconds`` = 15 — how long others wait after the last
  renewal they saw before taking over; ``RenewDeadlineSeconds`` = 10 — a leader that could not
  renew for this long stops acting as leader; ``RetryPeriodSeconds`` = 2 — between attempts.
  As in client-go: LeaseDuration > RenewDeadline > 1.2 * RetryPeriod, so a leader gives up
  before anyone else may take over.
"""

from __future__ import annotations

from typing import Self

from pydantic import Field, field_validator, model_validator

from app.config.errors import InconsistentSetting
from app.config.sections import _Section
from app.models.kubernetes_names import is_dns1123_label, is_dns1123_subdomain

# client-go's leaderelection.JitterFactor: retries wait up to 1.2 * RetryPeriod.
RETRY_JITTER_FACTOR = 1.2


class LeaderElectionSettings(_Section):
    namespace: str = "kata-sandbox-system"
    lease_name: str = "kata-sandbox-api-reaper"
    lease_duration_seconds: float = Field(15.0, gt=0, le=300)
    renew_deadline_seconds: float = Field(10.0, gt=0)
    retry_period_seconds: float = Field(2.0, gt=0)

    @field_validator("namespace")
    @classmethod
    def _namespace_is_label(cls, value: str) -> str:
        if not is_dns1123_label(value):
            raise ValueError(f"{value!r} is not a valid namespace name (a DNS-1123 label)")
        return value

    @field_validator("lease_name")
    @classmethod
    def _name_is_subdomain(cls, value: str) -> str:
        if not is_dns1123_subdomain(value):
            raise ValueError(f"{value!r} is not a valid Lease name (a DNS-1123 subdomain)")
        return value

    @model_validator(mode="after")
    def _durations_are_ordered(self) -> Self:
        if self.renew_deadline_seconds >= self.lease_duration_seconds:
            raise InconsistentSetting(
                "RenewDeadlineSeconds",
                f"{self.renew_deadline_seconds:g} must be less than LeaseDurationSeconds "
                f"({self.lease_duration_seconds:g}), or two leaders could act at once",
            )
        if self.renew_deadline_seconds <= RETRY_JITTER_FACTOR * self.retry_period_seconds:
            raise InconsistentSetting(
                "RetryPeriodSeconds",
                f"{self.retry_period_seconds:g} * {RETRY_JITTER_FACTOR} must be less than "
                f"RenewDeadlineSeconds ({self.renew_deadline_seconds:g})",
            )
        return self


class LifecycleSettings(_Section):
    reaper_enabled: bool = True
    reaper_interval_seconds: float = Field(5.0, gt=0, le=300)
    max_pending_seconds: int | None = Field(900, gt=0)
    completed_retention_seconds: int = Field(300, ge=0)
    expiring_notice_seconds: int = Field(60, ge=0)
    leader_election: LeaderElectionSettings = LeaderElectionSettings()
