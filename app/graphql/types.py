"""GraphQL output types, converted from the domain values of ``app.models``.

Field names are snake_case here and camelCase on the wire (``pod_ip`` is spelt ``podIP`` as the
contract has it). ``Sandbox`` keeps the domain value it was made from, so ``events`` and ``logs``
are resolved from it only when a client selects them.
"""

from __future__ import annotations

from datetime import datetime

import strawberry

from app import models
from app.graphql.context import GraphQLContext
from app.graphql.decorators import field
from app.graphql.enums import BootPhase, ChangeType, DeletionReason, RestartPolicy, SandboxPhase
from app.graphql.inputs import NOT_GIVEN, check_range, given
from app.graphql.lifecycle import Diagnosis, PhaseTransition, diagnosis_of, phase_of, timeline_of
from app.kube.ownership import SANDBOX_CONTAINER_NAME
from app.kube.pods import LogOptions

Info = strawberry.Info[GraphQLContext, None]

MAX_EVENTS_LIMIT = 1000
MAX_TAIL_LINES = 10_000
MAX_SINCE_SECONDS = 30 * 24 * 3600


@strawberry.type(name="Label")
class Label:
    key: str
    value: str


@strawberry.type(name="ResourceAmounts", description="Memory in MiB, CPU in millicores.")
class ResourceAmounts:
    memory_mi: int | None
    cpu_millicores: int | None

    @classmethod
    def from_domain(cls, amounts: models.ResourceAmounts) -> ResourceAmounts:
        return cls(memory_mi=amounts.memory_mi, cpu_millicores=amounts.cpu_millicores)


@strawberry.type(name="Resources")
class Resources:
    requests: ResourceAmounts
    limits: ResourceAmounts
    overhead: ResourceAmounts | None = strawberry.field(
        description="The Kata VM's own cost, counted on top of the requests."
    )

    @classmethod
    def from_domain(cls, resources: models.Resources) -> Resources:
        return cls(
            requests=ResourceAmounts.from_domain(resources.requests),
            limits=ResourceAmounts.from_domain(resources.limits),
            overhead=(
                ResourceAmounts.from_domain(resources.overhead)
                if resources.overhead is not None
                else None
            ),
        )


@strawberry.type(name="ContainerStatus")
class ContainerStatus:
    name: str
    image: str
    ready: bool
    restart_count: int
    state: str = strawberry.field(description="waiting, running or terminated.")
    reason: str | None
    message: str | None
    exit_code: int | None
    started_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def from_domain(cls, status: models.ContainerStatus) -> ContainerStatus:
        return cls(
            name=status.name,
            image=status.image,
            ready=status.ready,
            restart_count=status.restart_count,
            state=status.state.value,
            reason=status.reason,
            message=status.message,
            exit_code=status.exit_code,
            started_at=status.started_at,
            finished_at=status.finished_at,
        )


@strawberry.type(name="PodCondition")
class PodCondition:
    type: str
    status: str
    reason: str | None
    message: str | None
    last_transition_time: datetime | None

    @classmethod
    def from_domain(cls, condition: models.PodCondition) -> PodCondition:
        return cls(
            type=condition.type,
            status=condition.status,
            reason=condition.reason,
            message=condition.message,
            last_transition_time=condition.last_transition_time,
        )


@strawberry.type(name="SandboxEvent")
class SandboxEvent:
    type: str
    reason: str
    message: str
    count: int
    first_seen: datetime | None
    last_seen: datetime | None
    source: str | None = strawberry.field(description="The component that reported it.")

    @classmethod
    def from_domain(cls, event: models.SandboxEvent) -> SandboxEvent:
        return cls(
            type=event.type,
            reason=event.reason,
            message=event.message,
            count=event.count,
            first_seen=event.first_seen,
            last_seen=event.last_seen,
            source=event.source,
        )


@strawberry.type(name="Sandbox", description="One Kata Containers sandbox pod.")
class Sandbox:
    domain: strawberry.Private[models.Sandbox]
    name: str
    namespace: str
    image: str
    phase: SandboxPhase
    ready: bool
    terminating: bool
    created_at: datetime
    node_name: str | None
    pod_ip: str | None = strawberry.field(name="podIP")
    runtime_class_name: str | None
    labels: list[Label]
    resources: Resources
    containers: list[ContainerStatus]
    conditions: list[PodCondition]
    uid: str
    restart_policy: RestartPolicy | None
    start_time: datetime | None
    reason: str | None = strawberry.field(description="Why the pod is in its state, e.g. Evicted.")
    message: str | None
    expires_at: datetime | None = strawberry.field(
        description="When its TTL runs out and it is deleted; null: it lives until deleted."
    )
    idempotency_key: str | None = strawberry.field(
        description="The key it was created with, if any."
    )

    @classmethod
    def from_domain(cls, sandbox: models.Sandbox) -> Sandbox:
        return cls(
            domain=sandbox,
            name=sandbox.name,
            namespace=sandbox.namespace,
            image=sandbox.image,
            phase=SandboxPhase[sandbox.phase.name],
            ready=sandbox.ready,
            terminating=sandbox.terminating,
            created_at=sandbox.created_at,
            node_name=sandbox.node_name,
            pod_ip=sandbox.pod_ip,
            runtime_class_name=sandbox.runtime_class_name,
            labels=[Label(key=label.key, value=label.value) for label in sandbox.labels],
            resources=Resources.from_domain(sandbox.resources),
            containers=[ContainerStatus.from_domain(c) for c in sandbox.containers],
            conditions=[PodCondition.from_domain(c) for c in sandbox.conditions],
            uid=sandbox.uid,
            restart_policy=(
                RestartPolicy[sandbox.restart_policy.name] if sandbox.restart_policy else None
            ),
            start_time=sandbox.start_time,
            reason=sandbox.reason,
            message=sandbox.message,
            expires_at=sandbox.expires_at,
            idempotency_key=sandbox.idempotency_key,
        )

    @field(
        description=(
            "Where it is on its way to READY, from the pod and its events (read locally, no "
            "Kubernetes request)."
        )
    )
    def boot_phase(self, info: Info) -> BootPhase:
        return BootPhase[phase_of(info.context, self.domain).name]

    @field(
        description=(
            "The phases it went through, oldest first, ending with the current one: how long "
            "each step took."
        )
    )
    def timeline(self, info: Info) -> list[PhaseTransition]:
        return timeline_of(info.context, self.domain)

    @field(description="Why it is stuck or failed, with a hint; null while nothing is wrong.")
    def diagnosis(self, info: Info) -> Diagnosis | None:
        found = diagnosis_of(info.context, self.domain)
        return Diagnosis.from_domain(found) if found is not None else None

    @field(description="The most recent Kubernetes events about it, oldest first.")
    async def events(self, info: Info, limit: int | None = 50) -> list[SandboxEvent]:
        limit = 50 if limit is None else limit
        check_range(limit, "limit", minimum=0, maximum=MAX_EVENTS_LIMIT)
        if limit == 0:
            return []
        events = await info.context.events_loader.load(self.name)
        return [SandboxEvent.from_domain(event) for event in events[-limit:]]

    @field(description="The container's log; empty until the container has started.")
    async def logs(
        self,
        info: Info,
        container: str | None = NOT_GIVEN,
        tail_lines: int | None = 100,
        since_seconds: int | None = NOT_GIVEN,
    ) -> str:
        options = log_options(container, tail_lines, since_seconds)
        service = await info.context.service()
        async with info.context.log_reads:
            return await service.logs(self.name, options)


def log_options(
    container: str | None, tail_lines: int | None, since_seconds: int | None
) -> LogOptions:
    """Checked log arguments (BAD_USER_INPUT naming the argument)."""
    container, tail_lines, since_seconds = given(container), given(tail_lines), given(since_seconds)
    if tail_lines is not None:
        check_range(tail_lines, "tailLines", minimum=0, maximum=MAX_TAIL_LINES)
    if since_seconds is not None:
        check_range(since_seconds, "sinceSeconds", minimum=1, maximum=MAX_SINCE_SECONDS)
    if container is not None and not container:
        raise models.BadUserInput("must not be empty", field="container")
    return LogOptions(
        container=container or SANDBOX_CONTAINER_NAME,
        tail_lines=tail_lines,
        since_seconds=since_seconds,
    )


@strawberry.type(name="SandboxChange")
class SandboxChange:
    type: ChangeType
    sandbox: Sandbox
    reason: DeletionReason | None = strawberry.field(
        description=(
            "Why the sandbox is going away: on DELETED, and on changes of a terminating sandbox."
        )
    )

    @classmethod
    def of(
        cls,
        change_type: models.ChangeType,
        sandbox: models.Sandbox,
        *,
        deleted: bool | None = None,
    ) -> SandboxChange:
        """``deleted=False``: a DELETED for a sandbox that only stopped matching a filter,
        which has no deletion reason unless it is also being deleted."""
        underlying = change_type
        if deleted is False and change_type is models.ChangeType.DELETED:
            underlying = models.ChangeType.MODIFIED
        reason = models.SandboxChange(underlying, sandbox).reason
        return cls(
            type=ChangeType[change_type.name],
            sandbox=Sandbox.from_domain(sandbox),
            reason=DeletionReason[reason.name] if reason is not None else None,
        )


@strawberry.type(name="DeletionResult")
class DeletionResult:
    deleted: list[str] = strawberry.field(description="Names of the sandboxes deleted.")
    count: int

    @classmethod
    def of(cls, names: list[str]) -> DeletionResult:
        return cls(deleted=list(names), count=len(names))
