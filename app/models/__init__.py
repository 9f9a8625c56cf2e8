"""Domain values shared by every layer. This package imports nothing else from the app."""

from app.models.capacity import (
    Capacity,
    NodeCapacity,
    OverheadSource,
    QuotaResource,
    QuotaUsage,
    SandboxFootprint,
)
from app.models.enums import ChangeType, ContainerStateKind, RestartPolicy, SandboxPhase
from app.models.errors import (
    BadUserInput,
    Conflict,
    FieldCause,
    Forbidden,
    Internal,
    NotFound,
    QuotaExceeded,
    RateLimited,
    SandboxError,
    SandboxFailed,
    Timeout,
    Unauthenticated,
    Unavailable,
)
from app.models.event import SandboxEvent
from app.models.lifecycle import (
    BOOT_SEQUENCE,
    BootPhase,
    DeletionReason,
    Diagnosis,
    DiagnosisReason,
    PhaseTransition,
)
from app.models.resources import (
    NO_AMOUNTS,
    NO_REQUIREMENTS,
    ResourceAmounts,
    ResourceRequirements,
    Resources,
)
from app.models.sandbox import Annotation, Label, Sandbox, SandboxChange
from app.models.spec import ConfigMapVolume, EnvVar, SandboxSpec, ScratchVolume
from app.models.status import ContainerStatus, PodCondition

__all__ = [
    "BOOT_SEQUENCE",
    "NO_AMOUNTS",
    "NO_REQUIREMENTS",
    "Annotation",
    "BadUserInput",
    "BootPhase",
    "Capacity",
    "ChangeType",
    "ConfigMapVolume",
    "Conflict",
    "ContainerStateKind",
    "ContainerStatus",
    "DeletionReason",
    "Diagnosis",
    "DiagnosisReason",
    "EnvVar",
    "FieldCause",
    "Forbidden",
    "Internal",
    "Label",
    "NodeCapacity",
    "NotFound",
    "OverheadSource",
    "PhaseTransition",
    "PodCondition",
    "QuotaExceeded",
    "QuotaResource",
    "QuotaUsage",
    "RateLimited",
    "ResourceAmounts",
    "ResourceRequirements",
    "Resources",
    "RestartPolicy",
    "Sandbox",
    "SandboxChange",
    "SandboxError",
    "SandboxEvent",
    "SandboxFailed",
    "SandboxFootprint",
    "SandboxPhase",
    "SandboxSpec",
    "ScratchVolume",
    "Timeout",
    "Unauthenticated",
    "Unavailable",
]
