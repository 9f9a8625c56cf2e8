"""A sandbox: one Kata pod managed by this service, as the layers above the kube layer see it.

Labels and annotations are tuples sorted by key rather than dicts: the order is stable for
clients (and for equality between two snapshots), and the value stays hashable and immutable.
``resource_version`` is the pod's ``metadata.resourceVersion``: an opaque string that orders
nothing by itself, but tells a reader whether its store has seen a given write.
"""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass, field
from datetime import datetime, timedelta

from app.models.enums import ChangeType, RestartPolicy, SandboxPhase
from app.models.lifecycle import DeletionReason
from app.models.resources import NO_AMOUNTS, Resources
from app.models.status import ContainerStatus, PodCondition


@dataclass(frozen=True, slots=True)
class Label:
    key: str
    value: str


@dataclass(frozen=True, slots=True)
class Annotation:
    key: str
    value: str


@dataclass(frozen=True, slots=True)
class Sandbox:
    name: str
    namespace: str
    image: str
    phase: SandboxPhase
    created_at: datetime
    _: KW_ONLY
    uid: str = ""
    resource_version: str = ""
    ready: bool = False
    terminating: bool = False
    # When the object goes away at the latest: the delete request's time plus this grace period.
    deletion_timestamp: datetime | None = None
    deletion_grace_period_seconds: int | None = None
    start_time: datetime | None = None
    node_name: str | None = None
    pod_ip: str | None = None
    host_ip: str | None = None
    runtime_class_name: str | None = None
    restart_policy: RestartPolicy | None = None
    # Pod-level explanation, e.g. reason "Evicted" with a message saying why.
    reason: str | None = None
    message: str | None = None
    labels: tuple[Label, ...] = ()
    annotations: tuple[Annotation, ...] = ()
    resources: Resources = field(default_factory=lambda: Resources(NO_AMOUNTS, NO_AMOUNTS))
    containers: tuple[ContainerStatus, ...] = ()
    conditions: tuple[PodCondition, ...] = ()
    # From the service's annotations: the TTL's end, the reaper's reason for deleting it (set
    # just before the delete), and the idempotency key it was created with.
    expires_at: datetime | None = None
    deletion_reason: DeletionReason | None = None
    idempotency_key: str | None = None

    @property
    def deletion_requested_at(self) -> datetime | None:
        """When the delete was requested (``deletionTimestamp`` less the grace period)."""
        if self.deletion_timestamp is None:
            return None
        return self.deletion_timestamp - timedelta(seconds=self.deletion_grace_period_seconds or 0)

    def labels_as_dict(self) -> dict[str, str]:
        """The labels as a mapping, e.g. to match a label selector against."""
        return {label.key: label.value for label in self.labels}


@dataclass(frozen=True, slots=True)
class SandboxChange:
    """One change seen by the watch: the sandbox as it was after the change (or when deleted)."""

    type: ChangeType
    sandbox: Sandbox

    @property
    def reason(self) -> DeletionReason | None:
        """Why the sandbox is going away: set for DELETED and for a terminating sandbox.

        The reaper annotates a pod with its reason before deleting it, so the last states
        carry it; a deletion without that annotation was asked for by someone else: USER.
        """
        if self.type is ChangeType.DELETED or (
            self.sandbox.terminating and self.type is not ChangeType.EXPIRING
        ):
            return self.sandbox.deletion_reason or DeletionReason.USER
        return None
