"""The contract's enums. Members are named as on the wire; domain enums map by member name."""

from __future__ import annotations

import enum

import strawberry


@strawberry.enum(name="SandboxPhase")
class SandboxPhase(enum.Enum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    UNKNOWN = "UNKNOWN"


@strawberry.enum(name="RestartPolicy")
class RestartPolicy(enum.Enum):
    NEVER = "NEVER"
    ON_FAILURE = "ON_FAILURE"
    ALWAYS = "ALWAYS"


@strawberry.enum(
    name="ChangeType",
    description=(
        "EXPIRING is no change of the sandbox: it is sent Lifecycle.ExpiringNoticeSeconds "
        "before its TTL runs out (extendSandbox keeps it)."
    ),
)
class ChangeType(enum.Enum):
    ADDED = "ADDED"
    MODIFIED = "MODIFIED"
    DELETED = "DELETED"
    EXPIRING = "EXPIRING"


@strawberry.enum(
    name="BootPhase",
    description=(
        "Where a sandbox is on its way to READY. A Kata pod passes ACCEPTED, SCHEDULED, BOOTING "
        "(the VM boots), PULLING_IMAGE, STARTING, READY, in that order; FAILED, COMPLETED and "
        "TERMINATING end it."
    ),
)
class BootPhase(enum.Enum):
    ACCEPTED = "ACCEPTED"
    SCHEDULED = "SCHEDULED"
    PULLING_IMAGE = "PULLING_IMAGE"
    BOOTING = "BOOTING"
    STARTING = "STARTING"
    READY = "READY"
    FAILED = "FAILED"
    COMPLETED = "COMPLETED"
    TERMINATING = "TERMINATING"


@strawberry.enum(name="DiagnosisReason")
class DiagnosisReason(enum.Enum):
    UNSCHEDULABLE = "UNSCHEDULABLE"
    IMAGE_PULL_FAILURE = "IMAGE_PULL_FAILURE"
    CONTAINER_CREATE_ERROR = "CONTAINER_CREATE_ERROR"
    MISSING_RUNTIME_HANDLER = "MISSING_RUNTIME_HANDLER"
    CRASH_LOOP = "CRASH_LOOP"
    OOM_KILLED = "OOM_KILLED"
    EXIT_CODE = "EXIT_CODE"
    EVICTED = "EVICTED"


@strawberry.enum(
    name="DeletionReason",
    description=(
        "Why a sandbox was deleted: its TTL ran out (EXPIRED), it finished and completed "
        "sandboxes are cleaned up (COMPLETED), it stayed Pending too long (STUCK), or someone "
        "deleted it (USER)."
    ),
)
class DeletionReason(enum.Enum):
    EXPIRED = "EXPIRED"
    COMPLETED = "COMPLETED"
    STUCK = "STUCK"
    USER = "USER"


@strawberry.enum(
    name="OverheadSource",
    description=(
        "Where the RuntimeClass overhead came from: the RuntimeClass itself, an existing "
        "sandbox's spec.overhead, or the setting Kubernetes.RuntimeClassOverheadFallback."
    ),
)
class OverheadSource(enum.Enum):
    RUNTIME_CLASS = "RUNTIME_CLASS"
    OBSERVED = "OBSERVED"
    SETTINGS = "SETTINGS"
