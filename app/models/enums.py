"""Enumerations of the sandbox domain, named as the GraphQL contract names them.

``RestartPolicy`` keeps the member names of the API (``ON_FAILURE``) and carries the Kubernetes
spelling (``OnFailure``) as its value, so the manifest builder and the converter translate with
``.value`` and ``RestartPolicy(...)`` and nothing else needs a lookup table.
"""

from __future__ import annotations

import enum


class SandboxPhase(enum.Enum):
    """The pod phase (``status.phase``); UNKNOWN also covers phases this code does not know."""

    PENDING = "Pending"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    UNKNOWN = "Unknown"

    @property
    def is_terminal(self) -> bool:
        """A pod in a terminal phase never runs again (cleanup removes these)."""
        return self in (SandboxPhase.SUCCEEDED, SandboxPhase.FAILED)


class RestartPolicy(enum.Enum):
    """The pod's ``spec.restartPolicy``; the value is the Kubernetes spelling."""

    NEVER = "Never"
    ON_FAILURE = "OnFailure"
    ALWAYS = "Always"


class ContainerStateKind(enum.StrEnum):
    """Which of ``state.waiting`` / ``state.running`` / ``state.terminated`` is set."""

    WAITING = "waiting"
    RUNNING = "running"
    TERMINATED = "terminated"


class ChangeType(enum.Enum):
    """What happened to a sandbox, as a watch reports it.

    EXPIRING is no watch event: ``app.sandboxes.expiry`` announces it a lead time before the
    sandbox's TTL runs out (the pod itself does not change).
    """

    ADDED = "ADDED"
    MODIFIED = "MODIFIED"
    DELETED = "DELETED"
    EXPIRING = "EXPIRING"
