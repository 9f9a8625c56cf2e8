"""Where a sandbox is in its life, why it is stuck, and why it went away.

``BootPhase`` is derived (``app.sandboxes.boot``) from the pod's conditions, container states and
events; Kubernetes itself has no such field. For a Kata pod the kubelet's steps are, in order:
scheduling (``PodScheduled``), creating the pod sandbox, which for Kata *is* booting the VM
(QEMU, guest kernel, kata-agent; 12-25 s; ``PodReadyToStartContainers`` turns True when done),
pulling the image, creating and starting the container, and readiness (``Ready``). So in a
timeline BOOTING comes before PULLING_IMAGE, whatever the order of the enum's members.

``Diagnosis`` explains a sandbox that is stuck or failed, in words for a user, with a ``hint`` of
what to do. ``DeletionReason`` says why a sandbox was deleted; the reaper records its reason on
the pod before deleting it, so every replica's watch sees it (see ``app.sandboxes.reaper``).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime


class BootPhase(enum.Enum):
    ACCEPTED = "ACCEPTED"  # the apiserver stored the pod; no node yet
    SCHEDULED = "SCHEDULED"  # bound to a node; the node's agent has not taken it up yet
    PULLING_IMAGE = "PULLING_IMAGE"  # VM up; the container image is being pulled
    BOOTING = "BOOTING"  # the node creates the pod sandbox: the Kata VM boots
    STARTING = "STARTING"  # image present; the container is being created or started
    READY = "READY"  # the pod's Ready condition is True
    FAILED = "FAILED"  # it will not become ready (or ran and failed)
    COMPLETED = "COMPLETED"  # the container exited 0 and will not restart
    TERMINATING = "TERMINATING"  # deletion requested; containers are being stopped

    @property
    def is_outcome(self) -> bool:
        """Phases that end the boot sequence rather than step through it."""
        return self in (BootPhase.FAILED, BootPhase.COMPLETED, BootPhase.TERMINATING)


# The order in which a healthy Kata pod passes the phases (see the module docstring).
BOOT_SEQUENCE: tuple[BootPhase, ...] = (
    BootPhase.ACCEPTED,
    BootPhase.SCHEDULED,
    BootPhase.BOOTING,
    BootPhase.PULLING_IMAGE,
    BootPhase.STARTING,
    BootPhase.READY,
)


@dataclass(frozen=True, slots=True)
class PhaseTransition:
    """The sandbox entered ``phase`` at ``at`` (UTC)."""

    phase: BootPhase
    at: datetime


class DiagnosisReason(enum.Enum):
    UNSCHEDULABLE = "UNSCHEDULABLE"
    IMAGE_PULL_FAILURE = "IMAGE_PULL_FAILURE"
    CONTAINER_CREATE_ERROR = "CONTAINER_CREATE_ERROR"
    MISSING_RUNTIME_HANDLER = "MISSING_RUNTIME_HANDLER"
    CRASH_LOOP = "CRASH_LOOP"
    OOM_KILLED = "OOM_KILLED"
    EXIT_CODE = "EXIT_CODE"
    EVICTED = "EVICTED"


@dataclass(frozen=True, slots=True)
class Diagnosis:
    reason: DiagnosisReason
    message: str
    hint: str


class DeletionReason(enum.Enum):
    """Why a sandbox was deleted. The value is what the pod's annotation holds."""

    EXPIRED = "EXPIRED"  # its TTL ran out
    COMPLETED = "COMPLETED"  # it finished and CleanupCompletedPods is on
    STUCK = "STUCK"  # Pending for longer than Lifecycle.MaxPendingSeconds
    USER = "USER"  # anyone else: the API's delete mutations, kubectl, ...
