"""Raw apiserver JSON (camelCase dicts) to domain values.

The input is what the apiserver sends (``_preload_content=False`` and ``json.loads``, or a watch
event's ``object``), not kubernetes_asyncio model objects: the models drop fields they do not
know and cost a deserialisation pass per watch event.

Kubernetes semantics applied here:

- ``status.phase`` is missing only on a pod no component has looked at yet, which is pending;
  a phase this code does not know (a newer apiserver) is reported as UNKNOWN.
- ``ready`` is the pod's ``Ready`` condition. A pod being deleted keeps its phase and gets a
  ``metadata.deletionTimestamp``; that is ``terminating``.
- A container has a status only once the kubelet has reported one; before that (or for a pod not
  yet scheduled) the spec's containers are shown as waiting.
- ``spec.overhead`` is what the RuntimeClass admission plugin copied from the RuntimeClass.
- ``restartPolicy`` defaults to Always in the apiserver, so a pod without one has Always.
- A restarted container's ``lastState.terminated`` tells how its previous run ended.
- The service's own annotations carry the TTL's end, the reaper's deletion reason and the
  idempotency key (``app.kube.ownership``).
- Timestamps are RFC 3339 in UTC (``2024-05-01T10:00:00Z``; MicroTime has microseconds).

Fields that cannot be parsed are left out rather than failing the whole pod: a watch must
keep going on an odd object. Only a pod without a name or any creation time is refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from app.kube.ownership import (
    CREATED_AT_ANNOTATION,
    DELETION_REASON_ANNOTATION,
    EXPIRES_AT_ANNOTATION,
    IDEMPOTENCY_KEY_ANNOTATION,
    SANDBOX_CONTAINER_NAME,
)
from app.kube.quantity import QuantityError, to_mebibytes, to_millicores
from app.models.enums import ContainerStateKind, RestartPolicy, SandboxPhase
from app.models.event import SandboxEvent
from app.models.lifecycle import DeletionReason
from app.models.resources import ResourceAmounts, Resources
from app.models.sandbox import Annotation, Label, Sandbox
from app.models.status import ContainerStatus, PodCondition

_EMPTY: Mapping[str, Any] = {}


class MalformedObjectError(ValueError):
    """The object lacks what every object from an apiserver has."""


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else _EMPTY


def _mappings(value: Any) -> list[Mapping[str, Any]]:
    return [item for item in value if isinstance(item, Mapping)] if isinstance(value, list) else []


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value != "" else None


def _integer(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def parse_timestamp(value: Any) -> datetime | None:
    """An RFC 3339 timestamp as an aware UTC datetime; None when missing or unparsable."""
    if not isinstance(value, str) or value == "":
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _amounts(resources: Mapping[str, Any]) -> ResourceAmounts:
    memory, cpu = resources.get("memory"), resources.get("cpu")
    try:
        memory_mi = to_mebibytes(memory) if isinstance(memory, str) else None
    except QuantityError:
        memory_mi = None
    try:
        cpu_millicores = to_millicores(cpu) if isinstance(cpu, str) else None
    except QuantityError:
        cpu_millicores = None
    return ResourceAmounts(memory_mi=memory_mi, cpu_millicores=cpu_millicores)


def _phase(status: Mapping[str, Any]) -> SandboxPhase:
    phase = status.get("phase")
    if phase is None:
        return SandboxPhase.PENDING
    try:
        return SandboxPhase(phase)
    except ValueError:
        return SandboxPhase.UNKNOWN


def _restart_policy(spec: Mapping[str, Any]) -> RestartPolicy | None:
    policy = spec.get("restartPolicy")
    if policy is None:
        return RestartPolicy.ALWAYS
    try:
        return RestartPolicy(policy)
    except ValueError:
        return None


def _condition(raw: Mapping[str, Any]) -> PodCondition:
    return PodCondition(
        type=str(raw.get("type", "")),
        status=str(raw.get("status", "Unknown")),
        reason=_text(raw.get("reason")),
        message=_text(raw.get("message")),
        last_transition_time=parse_timestamp(raw.get("lastTransitionTime")),
    )


def _deletion_reason(value: str | None) -> DeletionReason | None:
    try:
        return DeletionReason(value) if value is not None else None
    except ValueError:
        return None


def _container_status(raw: Mapping[str, Any], spec_image: str | None) -> ContainerStatus:
    state = _mapping(raw.get("state"))
    running, terminated = _mapping(state.get("running")), _mapping(state.get("terminated"))
    waiting = _mapping(state.get("waiting"))
    ready = raw.get("ready") is True
    restart_count = _integer(raw.get("restartCount")) or 0
    name = str(raw.get("name", ""))
    image = _text(raw.get("image")) or spec_image or ""
    last = _mapping(_mapping(raw.get("lastState")).get("terminated"))
    previous: dict[str, Any] = {
        "last_termination_reason": _text(last.get("reason")),
        "last_exit_code": _integer(last.get("exitCode")),
    }
    if "terminated" in state:
        return ContainerStatus(
            name,
            image,
            state=ContainerStateKind.TERMINATED,
            reason=_text(terminated.get("reason")),
            message=_text(terminated.get("message")),
            exit_code=_integer(terminated.get("exitCode")),
            started_at=parse_timestamp(terminated.get("startedAt")),
            finished_at=parse_timestamp(terminated.get("finishedAt")),
            ready=ready,
            restart_count=restart_count,
            **previous,
        )
    if "running" in state:
        return ContainerStatus(
            name,
            image,
            state=ContainerStateKind.RUNNING,
            started_at=parse_timestamp(running.get("startedAt")),
            ready=ready,
            restart_count=restart_count,
            **previous,
        )
    return ContainerStatus(
        name,
        image,
        state=ContainerStateKind.WAITING,
        reason=_text(waiting.get("reason")),
        message=_text(waiting.get("message")),
        ready=ready,
        restart_count=restart_count,
        **previous,
    )


def _containers(
    spec_containers: list[Mapping[str, Any]], statuses: list[Mapping[str, Any]]
) -> tuple[ContainerStatus, ...]:
    """Spec order, each with its status when the kubelet has reported one."""
    by_name = {status.get("name"): status for status in statuses}
    result = []
    for container in spec_containers:
        name, image = str(container.get("name", "")), _text(container.get("image"))
        status = by_name.pop(name, None)
        if status is None:
            result.append(ContainerStatus(name, image or ""))
        else:
            result.append(_container_status(status, image))
    # Statuses for containers missing from the spec should not happen; keep them visible.
    result.extend(_container_status(status, None) for status in by_name.values())
    return tuple(result)


def _main_container(spec_containers: list[Mapping[str, Any]]) -> Mapping[str, Any]:
    for container in spec_containers:
        if container.get("name") == SANDBOX_CONTAINER_NAME:
            return container
    return spec_containers[0] if spec_containers else _EMPTY


def _string_pairs(value: Any) -> list[tuple[str, str]]:
    pairs = _mapping(value).items()
    return sorted((str(key), str(item)) for key, item in pairs)


def sandbox_from_pod(
    pod: Mapping[str, Any], *, overhead_fallback: ResourceAmounts | None = None
) -> Sandbox:
    """The sandbox a pod stands for.

    ``overhead_fallback`` is reported as the overhead when the pod has no ``spec.overhead``
    (a RuntimeClass without one); without it such a pod has no overhead.
    """
    metadata, spec = _mapping(pod.get("metadata")), _mapping(pod.get("spec"))
    status = _mapping(pod.get("status"))
    name = _text(metadata.get("name"))
    if name is None:
        raise MalformedObjectError("pod has no metadata.name")
    annotations = _string_pairs(metadata.get("annotations"))
    annotation = dict(annotations)
    created_at = parse_timestamp(annotation.get(CREATED_AT_ANNOTATION)) or parse_timestamp(
        metadata.get("creationTimestamp")
    )
    if created_at is None:
        raise MalformedObjectError(f"pod {name!r} has no creation time")

    spec_containers = _mappings(spec.get("containers"))
    main = _main_container(spec_containers)
    main_resources = _mapping(main.get("resources"))
    overhead_raw = spec.get("overhead")
    overhead = _amounts(_mapping(overhead_raw)) if overhead_raw else overhead_fallback
    conditions = tuple(_condition(raw) for raw in _mappings(status.get("conditions")))
    deletion_timestamp = parse_timestamp(metadata.get("deletionTimestamp"))

    return Sandbox(
        name=name,
        namespace=str(metadata.get("namespace", "")),
        image=str(main.get("image", "")),
        phase=_phase(status),
        created_at=created_at,
        uid=str(metadata.get("uid", "")),
        resource_version=str(metadata.get("resourceVersion", "")),
        ready=any(c.type == "Ready" and c.status == "True" for c in conditions),
        terminating=metadata.get("deletionTimestamp") is not None,
        deletion_timestamp=deletion_timestamp,
        deletion_grace_period_seconds=_integer(metadata.get("deletionGracePeriodSeconds")),
        start_time=parse_timestamp(status.get("startTime")),
        node_name=_text(spec.get("nodeName")),
        pod_ip=_text(status.get("podIP")),
        host_ip=_text(status.get("hostIP")),
        runtime_class_name=_text(spec.get("runtimeClassName")),
        restart_policy=_restart_policy(spec),
        reason=_text(status.get("reason")),
        message=_text(status.get("message")),
        labels=tuple(Label(k, v) for k, v in _string_pairs(metadata.get("labels"))),
        annotations=tuple(Annotation(k, v) for k, v in annotations),
        resources=Resources(
            _amounts(_mapping(main_resources.get("requests"))),
            _amounts(_mapping(main_resources.get("limits"))),
            overhead=overhead,
        ),
        containers=_containers(spec_containers, _mappings(status.get("containerStatuses"))),
        conditions=conditions,
        expires_at=parse_timestamp(annotation.get(EXPIRES_AT_ANNOTATION)),
        deletion_reason=_deletion_reason(annotation.get(DELETION_REASON_ANNOTATION)),
        idempotency_key=annotation.get(IDEMPOTENCY_KEY_ANNOTATION),
    )


def event_from_k8s(event: Mapping[str, Any]) -> SandboxEvent:
    """A core/v1 Event as a sandbox event.

    Events written through the older API carry ``count`` and ``firstTimestamp`` /
    ``lastTimestamp``; those written through events.k8s.io carry ``eventTime`` and, once
    repeated, ``series.count`` and ``series.lastObservedTime``. Either kind appears here.
    """
    metadata = _mapping(event.get("metadata"))
    involved = _mapping(event.get("involvedObject"))
    series = _mapping(event.get("series"))
    event_time = parse_timestamp(event.get("eventTime"))
    first_seen = (
        parse_timestamp(event.get("firstTimestamp"))
        or event_time
        or parse_timestamp(metadata.get("creationTimestamp"))
    )
    last_seen = (
        parse_timestamp(series.get("lastObservedTime"))
        or parse_timestamp(event.get("lastTimestamp"))
        or event_time
        or first_seen
    )
    count = _integer(event.get("count")) or _integer(series.get("count")) or 1
    source = _mapping(event.get("source"))
    return SandboxEvent(
        type=_text(event.get("type")) or "Normal",
        reason=_text(event.get("reason")) or "",
        message=_text(event.get("message")) or "",
        count=max(count, 1),
        first_seen=first_seen,
        last_seen=last_seen,
        involved_name=_text(involved.get("name")),
        involved_uid=_text(involved.get("uid")),
        source=_text(event.get("reportingComponent")) or _text(source.get("component")),
    )
