"""A sandbox's boot phase and its timeline, derived from the pod and its events (pure).

What each phase is read from, in the order a Kata pod passes them (see ``app.models.lifecycle``):

=============  ==================================================================================
ACCEPTED       the pod exists and is bound to no node (``PodScheduled`` is not True)
SCHEDULED      bound to a node (``spec.nodeName``; ``PodScheduled`` True, ``Scheduled`` event),
               whose agent has not reported the pod yet
BOOTING        the node's agent took it up (``status.startTime``, ``PodReadyToStartContainers``
               False): it creates the pod sandbox, which for Kata is the VM's boot
PULLING_IMAGE  the pod sandbox is up (``PodReadyToStartContainers`` True, ``Pulling`` event) and
               no ``Pulled``/``Created`` event yet
STARTING       the image is there (``Pulled``/``Created`` event) or the container has run, and
               the pod is not Ready
READY          the ``Ready`` condition is True
FAILED         phase Failed, or the container waits for a reason that does not fix itself
               (``app.sandboxes.readiness``), or the node lacks the Kata runtime handler
COMPLETED      phase Succeeded
TERMINATING    ``metadata.deletionTimestamp`` is set
=============  ==================================================================================

Events are optional: without them the phases come from the pod alone (PULLING_IMAGE then lasts
until the container runs). They are filtered by the pod's uid, since a name can be reused.

The timeline is rebuilt from one snapshot, so it shows the path to the current phase, each step at
the earliest time the pod or its events record for it. Event times have whole seconds (the
kubelet's, and kwok's) while conditions may be finer, so times are clamped to never go
backwards. Sandbox pods have no readiness probe, so a container that has run was READY from
its start: that is how a finished or deleted sandbox shows when it was ready.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime

from app.models import (
    BOOT_SEQUENCE,
    BootPhase,
    ContainerStateKind,
    PhaseTransition,
    PodCondition,
    Sandbox,
    SandboxEvent,
    SandboxPhase,
)
from app.sandboxes.readiness import readiness_failure

# Messages of a node whose container runtime has no handler for the RuntimeClass (containerd:
# 'no runtime for "kata-qemu" is configured'; CRI-O: 'failed to find runtime handler ...';
# kubelet: 'RuntimeClass "kata-qemu" not found', 'RuntimeHandler ... not supported').
_RUNTIME_HANDLER = re.compile(
    r"runtime ?handler|no runtime for|RuntimeClass|sandbox runtime"
    r"|handler .* not (found|supported)",
    re.IGNORECASE,
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SANDBOX_CREATION_FAILURES = frozenset({"FailedCreatePodSandBox", "FailedCreatePodSandBoxConfig"})


def _order(event: SandboxEvent) -> float:
    return event.first_seen.timestamp() if event.first_seen else 0.0


def events_of(sandbox: Sandbox, events: Iterable[SandboxEvent]) -> list[SandboxEvent]:
    """The events about this very pod (same name, and same uid where both are known)."""
    return sorted(
        (
            e
            for e in events
            if e.involved_name in (None, sandbox.name)
            and (not sandbox.uid or e.involved_uid in (None, sandbox.uid))
        ),
        key=_order,
    )


def first_event(events: Iterable[SandboxEvent], *reasons: str) -> SandboxEvent | None:
    return next((e for e in events if e.reason in reasons), None)


def last_event(events: Iterable[SandboxEvent], *reasons: str) -> SandboxEvent | None:
    found = [e for e in events if e.reason in reasons]
    return max(found, key=lambda e: e.last_seen or e.first_seen or _EPOCH) if found else None


def condition(sandbox: Sandbox, kind: str) -> PodCondition | None:
    return next((c for c in sandbox.conditions if c.type == kind), None)


def mentions_runtime_handler(text: str | None) -> bool:
    return bool(text) and _RUNTIME_HANDLER.search(text or "") is not None


def runtime_handler_failure(sandbox: Sandbox, events: Iterable[SandboxEvent]) -> str | None:
    """The message saying the node cannot create this RuntimeClass's sandbox, if any."""
    if container_has_run(sandbox):
        return None
    for container in sandbox.containers:
        if mentions_runtime_handler(container.message):
            return container.message
    failure = last_event(events, *SANDBOX_CREATION_FAILURES)
    if failure is not None and mentions_runtime_handler(failure.message):
        return failure.message
    return None


def container_has_run(sandbox: Sandbox) -> bool:
    return any(
        c.state is not ContainerStateKind.WAITING or c.started_at is not None or c.restart_count
        for c in sandbox.containers
    )


def _scheduled(sandbox: Sandbox) -> bool:
    scheduled = condition(sandbox, "PodScheduled")
    return sandbox.node_name is not None or (scheduled is not None and scheduled.status == "True")


def _sandbox_up(sandbox: Sandbox, events: list[SandboxEvent]) -> bool:
    up = condition(sandbox, "PodReadyToStartContainers")
    return (up is not None and up.status == "True") or first_event(events, "Pulling") is not None


def _image_present(events: list[SandboxEvent]) -> bool:
    return first_event(events, "Pulled", "Created", "Started") is not None


def boot_phase(sandbox: Sandbox, events: Iterable[SandboxEvent] = ()) -> BootPhase:
    """The phase the sandbox is in now."""
    if sandbox.terminating:
        return BootPhase.TERMINATING
    if sandbox.phase is SandboxPhase.SUCCEEDED:
        return BootPhase.COMPLETED
    relevant = events_of(sandbox, events)
    if (
        sandbox.phase is SandboxPhase.FAILED
        or readiness_failure(sandbox) is not None
        or runtime_handler_failure(sandbox, relevant) is not None
    ):
        return BootPhase.FAILED
    if sandbox.ready:
        return BootPhase.READY
    if container_has_run(sandbox):
        return BootPhase.STARTING
    if not _scheduled(sandbox):
        return BootPhase.ACCEPTED
    if _sandbox_up(sandbox, relevant):
        return BootPhase.STARTING if _image_present(relevant) else BootPhase.PULLING_IMAGE
    if sandbox.start_time is not None or condition(sandbox, "PodReadyToStartContainers"):
        return BootPhase.BOOTING
    return BootPhase.SCHEDULED


def _true_since(sandbox: Sandbox, kind: str) -> datetime | None:
    found = condition(sandbox, kind)
    return found.last_transition_time if found is not None and found.status == "True" else None


def _seen(event: SandboxEvent | None) -> datetime | None:
    return event.first_seen if event is not None else None


def _earliest(*times: datetime | None) -> datetime | None:
    known = [t for t in times if t is not None]
    return min(known) if known else None


def _latest(*times: datetime | None) -> datetime | None:
    known = [t for t in times if t is not None]
    return max(known) if known else None


def _marks(sandbox: Sandbox, events: list[SandboxEvent]) -> dict[BootPhase, datetime | None]:
    """The earliest recorded time of each step of the boot sequence (None: not recorded)."""
    started = _earliest(*(c.started_at for c in sandbox.containers))
    return {
        BootPhase.ACCEPTED: sandbox.created_at,
        BootPhase.SCHEDULED: _seen(first_event(events, "Scheduled"))
        or _true_since(sandbox, "PodScheduled"),
        BootPhase.BOOTING: sandbox.start_time,
        BootPhase.PULLING_IMAGE: _seen(first_event(events, "Pulling"))
        or _true_since(sandbox, "PodReadyToStartContainers"),
        BootPhase.STARTING: _seen(first_event(events, "Pulled", "Created")) or started,
        BootPhase.READY: _true_since(sandbox, "Ready") if sandbox.ready else started,
    }


def _outcome_time(sandbox: Sandbox, phase: BootPhase, events: list[SandboxEvent]) -> datetime:
    if phase is BootPhase.TERMINATING and sandbox.deletion_requested_at is not None:
        return sandbox.deletion_requested_at
    finished = _latest(*(c.finished_at for c in sandbox.containers))
    if finished is not None:
        return finished
    failure = [e for e in events if e.type == "Warning"]
    if failure:
        return failure[-1].first_seen or sandbox.created_at
    ready = condition(sandbox, "Ready")
    return (ready.last_transition_time if ready else None) or sandbox.created_at


def _finished_before_deletion(sandbox: Sandbox) -> PhaseTransition | None:
    requested = sandbox.deletion_requested_at
    for container in sandbox.containers:
        done = container.finished_at
        terminated = container.state is ContainerStateKind.TERMINATED
        if terminated and done is not None and requested is not None and done < requested:
            ok = container.exit_code == 0
            return PhaseTransition(BootPhase.COMPLETED if ok else BootPhase.FAILED, done)
    return None


def timeline(sandbox: Sandbox, events: Iterable[SandboxEvent] = ()) -> list[PhaseTransition]:
    """The phases the sandbox went through, oldest first, ending with its current phase."""
    relevant = events_of(sandbox, events)
    current = boot_phase(sandbox, relevant)
    marks = _marks(sandbox, relevant)
    steps: list[tuple[BootPhase, datetime | None]] = []
    for phase in BOOT_SEQUENCE:
        if not current.is_outcome and BOOT_SEQUENCE.index(phase) > BOOT_SEQUENCE.index(current):
            break
        if marks[phase] is not None or phase is current:
            steps.append((phase, marks[phase]))
    if current.is_outcome:
        if current is BootPhase.TERMINATING:
            before = _finished_before_deletion(sandbox)
            if before is not None:
                steps.append((before.phase, before.at))
        steps.append((current, _outcome_time(sandbox, current, relevant)))
    transitions: list[PhaseTransition] = []
    for phase, at in steps:
        previous = transitions[-1].at if transitions else sandbox.created_at
        transitions.append(PhaseTransition(phase, max(at or previous, previous)))
    return transitions
