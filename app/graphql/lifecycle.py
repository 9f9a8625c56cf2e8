"""A sandbox's boot phase, timeline and diagnosis as GraphQL types, and where they come from.

They are derived (``app.sandboxes.boot``, ``app.sandboxes.diagnosis``) from the pod as the
informer's store has it and from the pod's events as the process's ``EventInformer`` has them
(``LifecycleRuntime.events_for``): no apiserver request per sandbox, however many a query or a
subscription returns. Without the lifecycle runtime (not started yet) they come from the pod
alone. The diagnosis of an unschedulable sandbox states its shortfall with the RuntimeClass
overhead counted; it is not compared with node sizes here, which would need an apiserver read.
"""

from __future__ import annotations

from datetime import datetime

import strawberry

from app import models
from app.graphql.context import GraphQLContext
from app.graphql.enums import BootPhase, DiagnosisReason
from app.sandboxes.boot import boot_phase, timeline
from app.sandboxes.diagnosis import diagnose


@strawberry.type(name="PhaseTransition", description="The sandbox entered `phase` at `at`.")
class PhaseTransition:
    phase: BootPhase
    at: datetime

    @classmethod
    def from_domain(cls, transition: models.PhaseTransition) -> PhaseTransition:
        return cls(phase=BootPhase[transition.phase.name], at=transition.at)


@strawberry.type(
    name="Diagnosis", description="Why a sandbox is stuck or failed, and what to do about it."
)
class Diagnosis:
    reason: DiagnosisReason
    message: str
    hint: str

    @classmethod
    def from_domain(cls, diagnosis: models.Diagnosis) -> Diagnosis:
        return cls(
            reason=DiagnosisReason[diagnosis.reason.name],
            message=diagnosis.message,
            hint=diagnosis.hint,
        )


def local_events(context: GraphQLContext, sandbox: models.Sandbox) -> list[models.SandboxEvent]:
    """The sandbox's events from the process's event store; none without the runtime."""
    runtime = context.lifecycle
    return runtime.events_for(sandbox) if runtime is not None else []


def phase_of(context: GraphQLContext, sandbox: models.Sandbox) -> models.BootPhase:
    return boot_phase(sandbox, local_events(context, sandbox))


def timeline_of(context: GraphQLContext, sandbox: models.Sandbox) -> list[PhaseTransition]:
    return [
        PhaseTransition.from_domain(step)
        for step in timeline(sandbox, local_events(context, sandbox))
    ]


def diagnosis_of(context: GraphQLContext, sandbox: models.Sandbox) -> models.Diagnosis | None:
    return diagnose(sandbox, local_events(context, sandbox))


def view_key(context: GraphQLContext, sandbox: models.Sandbox) -> tuple[str, str, str | None]:
    """What a subscriber has seen of a sandbox: a change to any part is worth sending.

    The pod's resourceVersion covers the pod; the phase and the diagnosis's reason also move
    with events alone (a ``Pulled`` event, a ``FailedScheduling`` retry), which change no pod.
    """
    diagnosis = diagnosis_of(context, sandbox)
    return (
        sandbox.resource_version,
        phase_of(context, sandbox).value,
        diagnosis.reason.value if diagnosis is not None else None,
    )
