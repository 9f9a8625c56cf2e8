"""What an apiserver answer means for our callers.

A failed request answers with a ``Status`` object: ``code`` (the HTTP status), ``reason`` (a
machine-readable word such as ``AlreadyExists``, ``Invalid``, ``Forbidden``), a human ``message``
and ``details`` (``causes`` with the offending ``field`` for 422 Invalid, ``retryAfterSeconds``
for 429 and some 5xx). How each maps:

- 400 BadRequest (a malformed selector, an unknown container for logs) → BAD_USER_INPUT
- 401 → UNAVAILABLE: the *service's* credentials were refused, which no client can fix
- 403 with "exceeded quota" (the ResourceQuota admission plugin) → QUOTA_EXCEEDED
- 403 otherwise (RBAC, Pod Security) → FORBIDDEN, without the identity or verb in the message
- 404 → NOT_FOUND; 409 → CONFLICT (``AlreadyExists`` is :class:`AlreadyExists`, so a create can
  retry with a new name)
- 410 Gone → :class:`ResourceExpired`: a watch's resourceVersion was compacted away; the informer
  relists, no client ever sees it
- 422 Invalid → BAD_USER_INPUT with the apiserver's field causes
- 429 → RATE_LIMITED with the server's retry-after; 500/503/504 and connection failures →
  UNAVAILABLE (retried with backoff by :mod:`app.kube.retry` first)

Messages are written here, not copied from the apiserver, except the field causes of a 422 and a
400's message, which describe the caller's own input. Nothing carries URLs or tokens.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from app.models import (
    BadUserInput,
    Conflict,
    FieldCause,
    Forbidden,
    Internal,
    NotFound,
    QuotaExceeded,
    RateLimited,
    SandboxError,
    Unavailable,
)

log = logging.getLogger(__name__)


class AlreadyExists(Conflict):
    """A create hit an object with the same name."""


class ResourceExpired(Unavailable):
    """410 Gone: the requested resourceVersion is older than what etcd still keeps."""


class TransientApiError(Unavailable):
    """A 429 or 5xx answer, or no answer at all: worth retrying after a pause."""

    def __init__(self, message: str, *, retry_after_seconds: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class ApiRateLimited(TransientApiError):
    pass


def parse_status(body: bytes | str | None) -> Mapping[str, Any]:
    if not body:
        return {}
    try:
        status = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return {}
    return status if isinstance(status, Mapping) else {}


def _retry_after(status: Mapping[str, Any], headers: Mapping[str, str] | None) -> float | None:
    header = (headers or {}).get("Retry-After")
    if header is not None:
        try:
            return max(0.0, float(header))
        except ValueError:
            pass
    details = status.get("details")
    if isinstance(details, Mapping) and isinstance(details.get("retryAfterSeconds"), int):
        return float(details["retryAfterSeconds"])
    return None


def _causes(status: Mapping[str, Any]) -> tuple[FieldCause, ...]:
    details = status.get("details")
    raw = details.get("causes") if isinstance(details, Mapping) else None
    if not isinstance(raw, list):
        return ()
    return tuple(
        FieldCause(
            field=cause.get("field") if isinstance(cause.get("field"), str) else None,
            message=str(cause.get("message", "")),
        )
        for cause in raw
        if isinstance(cause, Mapping)
    )


def error_from_response(
    code: int,
    body: bytes | str | None,
    *,
    headers: Mapping[str, str] | None = None,
    action: str,
) -> SandboxError:
    """The domain error for a non-2xx answer to ``action`` (e.g. "create pods")."""
    status = parse_status(body)
    raw_message = status.get("message")
    message = raw_message if isinstance(raw_message, str) else ""
    log.info("apiserver answered %s to %s: %s", code, action, message)
    if code == 400:
        return BadUserInput(f"Kubernetes refused the request: {message}")
    if code == 401:
        return Unavailable("the service's Kubernetes credentials were refused")
    if code == 403:
        if "exceeded quota" in message:
            return QuotaExceeded(f"the sandbox namespace's ResourceQuota is exhausted: {message}")
        if "violates PodSecurity" in message:
            return Forbidden(f"the pod was refused by Pod Security admission: {message}")
        if "RuntimeClass" in message and "not found" in message:
            # The RuntimeClass admission plugin: no such RuntimeClass object in the cluster.
            return Forbidden(
                f"the cluster has no such RuntimeClass ({message}): apply manifests/ or set "
                "Kubernetes.RuntimeClassName to an existing one"
            )
        return Forbidden(f"the service is not allowed to {action}")
    if code == 404:
        return NotFound(f"not found ({action})")
    if code == 409:
        if status.get("reason") == "AlreadyExists":
            return AlreadyExists("an object with that name already exists")
        return Conflict(f"conflicting change ({action})")
    if code == 410:
        return ResourceExpired("the requested resourceVersion is too old")
    if code == 422:
        causes = _causes(status)
        first = causes[0] if causes else None
        text = first.message if first else message
        return BadUserInput(f"Kubernetes rejected the sandbox: {text}", causes=causes)
    if code == 429:
        return ApiRateLimited(
            "the Kubernetes API is throttling requests",
            retry_after_seconds=_retry_after(status, headers),
        )
    if code >= 500:
        return TransientApiError(
            f"the Kubernetes API failed to {action} ({code})",
            retry_after_seconds=_retry_after(status, headers),
        )
    return Internal(f"unexpected answer {code} to {action}")


def as_rate_limited(error: ApiRateLimited) -> RateLimited:
    """What a client sees once retries against a throttling apiserver are exhausted."""
    return RateLimited(str(error), retry_after_seconds=error.retry_after_seconds)
