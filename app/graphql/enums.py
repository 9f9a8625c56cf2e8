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


@strawberry.enum(name="ChangeType")
class ChangeType(enum.Enum):
    ADDED = "ADDED"
    MODIFIED = "MODIFIED"
    DELETED = "DELETED"
