"""A sandbox: one Kata pod managed by this service, as the layers above the kube layer see it.

Labels and annotations are tuples sorted by key rather than dicts: the order is stable for
clients (and for equality between two snapshots), and the value stays hashable and immutable.
``resource_version`` is the pod's ``metadata.resourceVersion``: an opaque string that orders
nothing by itself, but tells a reader whether its store has seen a given write.
"""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass, field
from datetime import datetime

from app.models.enums import ChangeType, RestartPolicy, SandboxPhase
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
    deletion_timestamp: datetime | None = None
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

    def labels_as_dict(self) -> dict[str, str]:
        """The labels as a mapping, e.g. to match a label selector against."""
        return {label.key: label.value for label in self.labels}


@dataclass(frozen=True, slots=True)
class SandboxChange:
    """One change seen by the watch: the sandbox as it was after the change (or when deleted)."""

    type: ChangeType
    sandbox: Sandbox
