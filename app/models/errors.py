"""Domain errors, one class per error code of the GraphQL contract.

Each class carries its ``code`` (the contract's ``errors[].extensions.code``). The message of
every instance is shown to clients as is, so whoever raises one writes a message fit for a user:
what was wrong and, where useful, what to do. Never put apiserver URLs, tokens, tracebacks or raw
response bodies into one; log those where the error is caught instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar


@dataclass(frozen=True, slots=True)
class FieldCause:
    """One problem with one input field, e.g. a cause of an apiserver 422."""

    field: str | None
    message: str


class SandboxError(Exception):
    code: ClassVar[str] = "INTERNAL"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def extensions(self) -> dict[str, object]:
        """The fields safe to show a client next to the message."""
        return {"code": self.code}


class BadUserInput(SandboxError):
    """The request itself is wrong; ``field`` is the GraphQL input path, e.g.
    ``input.resources.limits.memoryMi`` or ``input.labels[2].key``."""

    code = "BAD_USER_INPUT"

    def __init__(
        self, message: str, *, field: str | None = None, causes: tuple[FieldCause, ...] = ()
    ) -> None:
        super().__init__(message)
        self.field = field
        self.causes = causes

    def extensions(self) -> dict[str, object]:
        extensions = super().extensions()
        if self.field is not None:
            extensions["field"] = self.field
        if self.causes:
            extensions["causes"] = [
                {"field": cause.field, "message": cause.message} for cause in self.causes
            ]
        return extensions


class NotFound(SandboxError):
    code = "NOT_FOUND"


class Conflict(SandboxError):
    code = "CONFLICT"


class Forbidden(SandboxError):
    code = "FORBIDDEN"


class Unauthenticated(SandboxError):
    code = "UNAUTHENTICATED"


class RateLimited(SandboxError):
    code = "RATE_LIMITED"

    def __init__(self, message: str, *, retry_after_seconds: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds

    def extensions(self) -> dict[str, object]:
        extensions = super().extensions()
        if self.retry_after_seconds is not None:
            extensions["retryAfterSeconds"] = self.retry_after_seconds
        return extensions


class QuotaExceeded(SandboxError):
    code = "QUOTA_EXCEEDED"


class Timeout(SandboxError):
    code = "TIMEOUT"


class Unavailable(SandboxError):
    code = "UNAVAILABLE"


class Internal(SandboxError):
    code = "INTERNAL"


class SandboxFailed(SandboxError):
    """The sandbox ended or got stuck before it became ready (image pull failure, exit, crash).

    ``reason`` is the Kubernetes word for it (ErrImagePull, ImagePullBackOff, Error, Completed,
    OOMKilled, CrashLoopBackOff, ...), ``exit_code`` the container's when it terminated.
    """

    code = "SANDBOX_FAILED"

    def __init__(self, message: str, *, reason: str, exit_code: int | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.exit_code = exit_code

    def extensions(self) -> dict[str, object]:
        extensions = super().extensions()
        extensions["reason"] = self.reason
        if self.exit_code is not None:
            extensions["exitCode"] = self.exit_code
        return extensions
