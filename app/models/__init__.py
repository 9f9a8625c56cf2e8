"""Domain values shared by every layer. This package imports nothing else from the app."""

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
    "NO_AMOUNTS",
    "NO_REQUIREMENTS",
    "Annotation",
    "BadUserInput",
    "ChangeType",
    "ConfigMapVolume",
    "Conflict",
    "ContainerStateKind",
    "ContainerStatus",
    "EnvVar",
    "FieldCause",
    "Forbidden",
    "Internal",
    "Label",
    "NotFound",
    "PodCondition",
    "QuotaExceeded",
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
    "SandboxPhase",
    "SandboxSpec",
    "ScratchVolume",
    "Timeout",
    "Unauthenticated",
    "Unavailable",
]
