"""Why a sandbox is stuck or failed, in words for a user, with what to do about it (pure).

Checked in this order, the first that applies wins (a sandbox being deleted gets none: the
node stops its containers on the way out, which is no failure of theirs):

1. OOM_KILLED — the container (now or in its previous run) ended ``OOMKilled``: it went over
   its memory limit. Usually also a crash loop; the OOM is the cause, so it comes first.
2. CRASH_LOOP — waiting ``CrashLoopBackOff``: it exits again and again and the kubelet waits
   longer before each restart. The previous run's exit code tells how.
3. IMAGE_PULL_FAILURE — waiting ``ErrImagePull``, ``ImagePullBackOff``, ``InvalidImageName``,
   ``ErrImageNeverPull``, or a ``Failed`` event about pulling before the container ran.
4. MISSING_RUNTIME_HANDLER — the node's container runtime has no handler for the RuntimeClass
   (``FailedCreatePodSandBox`` "no runtime for "kata-qemu" is configured" and the like): the
   node is labelled for Kata but Kata is not installed there.
5. CONTAINER_CREATE_ERROR — waiting ``CreateContainerConfigError`` (typically a missing
   ConfigMap), ``CreateContainerError``, ``RunContainerError``, or a ``FailedMount`` /
   ``FailedCreatePodSandBox`` event before the container ran.
6. EVICTED — the node evicted the pod (``status.reason`` Evicted), e.g. for disk pressure or
   a scratch volume over its size limit; its containers were killed (137), which is no exit of
   their own.
7. EXIT_CODE — the pod Failed and its container exited non-zero (Succeeded is no failure).
8. UNSCHEDULABLE — ``PodScheduled`` False with reason Unschedulable (or a ``FailedScheduling``
   event): no node can take it. The scheduler fits *requests plus the RuntimeClass overhead*
   into a node's free allocatable, so the shortfall is stated with the overhead included, and,
   when node capacities are known, against the largest node.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from app.models import (
    ContainerStateKind,
    ContainerStatus,
    Diagnosis,
    DiagnosisReason,
    NodeCapacity,
    Sandbox,
    SandboxEvent,
    SandboxPhase,
)
from app.sandboxes.boot import (
    SANDBOX_CREATION_FAILURES,
    condition,
    container_has_run,
    events_of,
    last_event,
    mentions_runtime_handler,
    runtime_handler_failure,
)

PULL_FAILURES = frozenset(
    {"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull"}
)
CREATE_FAILURES = frozenset(
    {"CreateContainerConfigError", "CreateContainerError", "RunContainerError"}
)
# "4 Insufficient memory", "2 Insufficient cpu", "1 Insufficient nvidia.com/gpu"
_INSUFFICIENT = re.compile(r"(\d+) Insufficient ([\w/-]+(?:\.[\w/-]+)*)")
_NODE_COUNT = re.compile(r"0/(\d+) nodes are available")
MAX_DETAIL = 300


def _detail(text: str | None) -> str:
    if not text:
        return ""
    text = " ".join(text.split())
    return ": " + (text if len(text) <= MAX_DETAIL else text[: MAX_DETAIL - 1] + "…")


def _waiting(sandbox: Sandbox, reasons: frozenset[str]) -> ContainerStatus | None:
    return next(
        (
            c
            for c in sandbox.containers
            if c.state is ContainerStateKind.WAITING and c.reason in reasons
        ),
        None,
    )


def _oom(sandbox: Sandbox) -> Diagnosis | None:
    for c in sandbox.containers:
        now = c.state is ContainerStateKind.TERMINATED and c.reason == "OOMKilled"
        # A previous run's OOM matters while the sandbox is not (back) up.
        if now or (c.last_termination_reason == "OOMKilled" and not sandbox.ready):
            limit = sandbox.resources.limits.memory_mi
            within = f" of {limit}Mi" if limit else ""
            return Diagnosis(
                DiagnosisReason.OOM_KILLED,
                f"The container was killed for using more than its memory limit{within} "
                f"(OOMKilled, restarted {c.restart_count} times).",
                "Create the sandbox with a higher resources.limits.memoryMi, or make the "
                "program use less memory.",
            )
    return None


def _crash_loop(sandbox: Sandbox) -> Diagnosis | None:
    c = _waiting(sandbox, frozenset({"CrashLoopBackOff"}))
    if c is None:
        return None
    how = (
        f"last exit code {c.last_exit_code} ({c.last_termination_reason or 'Error'})"
        if c.last_exit_code is not None
        else "it exited"
    )
    return Diagnosis(
        DiagnosisReason.CRASH_LOOP,
        f"The container keeps exiting ({how}; restarted {c.restart_count} times); Kubernetes "
        "waits longer before each restart (CrashLoopBackOff).",
        "Read the failed run's log (previous: true). A sandbox's command must keep running; "
        "for a one-shot command use restartPolicy NEVER.",
    )


def _image_pull(sandbox: Sandbox, events: list[SandboxEvent]) -> Diagnosis | None:
    c = _waiting(sandbox, PULL_FAILURES)
    detail = c.message if c is not None else None
    reason = c.reason if c is not None else None
    if c is None and not container_has_run(sandbox):
        failed = last_event(events, "Failed")
        if failed is not None and "pull" in failed.message.lower():
            detail, reason = failed.message, "Failed"
    if reason is None:
        return None
    return Diagnosis(
        DiagnosisReason.IMAGE_PULL_FAILURE,
        f"The image {sandbox.image!r} could not be pulled ({reason}){_detail(detail)}",
        "Check the image name and tag, and that the registry serves it without credentials "
        "(the service configures none); then create a new sandbox with the corrected image.",
    )


def _runtime_handler(sandbox: Sandbox, events: list[SandboxEvent]) -> Diagnosis | None:
    message = runtime_handler_failure(sandbox, events)
    if message is None:
        return None
    node = f"Node {sandbox.node_name}" if sandbox.node_name else "The node"
    runtime = sandbox.runtime_class_name or "the RuntimeClass"
    return Diagnosis(
        DiagnosisReason.MISSING_RUNTIME_HANDLER,
        f"{node} cannot start Kata VMs: its container runtime has no handler for {runtime}"
        f"{_detail(message)}",
        "An operator must install or configure Kata Containers on that node, or remove the "
        "label the RuntimeClass selects (katacontainers.io/kata-runtime) from it. Delete this "
        "sandbox and create it again to land on another node.",
    )


def _create_error(sandbox: Sandbox, events: list[SandboxEvent]) -> Diagnosis | None:
    c = _waiting(sandbox, CREATE_FAILURES)
    reason, detail = (c.reason, c.message) if c is not None else (None, None)
    if c is None and not container_has_run(sandbox):
        failed = last_event(events, "FailedMount", *SANDBOX_CREATION_FAILURES)
        if failed is not None and not mentions_runtime_handler(failed.message):
            reason, detail = failed.reason, failed.message
    if reason is None:
        return None
    hint = (
        "A ConfigMap it mounts probably does not exist in the sandbox namespace: create it, or "
        "create the sandbox without it."
        if reason in ("CreateContainerConfigError", "FailedMount")
        else "Check the command, environment and mounts; then create a new sandbox."
    )
    return Diagnosis(
        DiagnosisReason.CONTAINER_CREATE_ERROR,
        f"The container could not be created ({reason}){_detail(detail)}",
        hint,
    )


def _exit_code(sandbox: Sandbox) -> Diagnosis | None:
    if sandbox.phase is not SandboxPhase.FAILED:
        return None
    for c in sandbox.containers:
        if c.state is ContainerStateKind.TERMINATED and c.exit_code not in (None, 0):
            return Diagnosis(
                DiagnosisReason.EXIT_CODE,
                f"The container exited with code {c.exit_code} ({c.reason or 'Error'})"
                f"{_detail(c.message)}",
                "Read its log for the cause. It will not run again: create a new sandbox (with "
                "a command that keeps running, if it should stay up).",
            )
    return None


def _evicted(sandbox: Sandbox) -> Diagnosis | None:
    if sandbox.reason != "Evicted":
        return None
    return Diagnosis(
        DiagnosisReason.EVICTED,
        f"The node evicted the sandbox{_detail(sandbox.message)}",
        "Keep the scratch volume under its size limit and memory under the limit; create a new "
        "sandbox.",
    )


def _shortfall(
    sandbox: Sandbox, resource: str, nodes: Sequence[NodeCapacity] | None
) -> tuple[str, str | None]:
    """'needs 416Mi memory incl. 160Mi Kata overhead; largest node has ...' and a hint."""
    memory = resource == "memory"
    unit, what = ("Mi", "memory") if memory else ("m", "CPU")
    requests, overhead = sandbox.resources.requests, sandbox.resources.overhead
    request = (requests.memory_mi if memory else requests.cpu_millicores) or 0
    extra = (overhead.memory_mi if memory else overhead.cpu_millicores) if overhead else None
    text = f"needs {request + (extra or 0)}{unit} {what}"
    if extra:
        text += f" incl. {extra}{unit} Kata overhead"
    if not nodes:
        return text, None
    sizes = [(n.allocatable.memory_mi if memory else n.allocatable.cpu_millicores) for n in nodes]
    largest = max((size for size in sizes if size is not None), default=None)
    if largest is None:
        return text, None
    text += f"; the largest node has {largest}{unit} allocatable"
    if request + (extra or 0) > largest:
        field = "memoryMi" if memory else "cpuMillicores"
        return text, (
            f"It can never fit: ask for at most {largest - (extra or 0)}{unit} "
            f"(resources.requests.{field})."
        )
    return text, None


def _unschedulable(
    sandbox: Sandbox, events: list[SandboxEvent], nodes: Sequence[NodeCapacity] | None
) -> Diagnosis | None:
    if sandbox.node_name is not None:
        return None
    scheduled = condition(sandbox, "PodScheduled")
    event = last_event(events, "FailedScheduling")
    refused = scheduled is not None and scheduled.reason == "Unschedulable"
    if not refused and event is None:
        return None
    text = (scheduled.message if refused and scheduled else None) or (
        event.message if event else ""
    )
    summary = text.split(" preemption:")[0].strip().rstrip(".")
    total = _NODE_COUNT.search(text)
    short = {name: int(count) for count, name in _INSUFFICIENT.findall(text)}
    parts, hints = [], []
    for resource in ("memory", "cpu"):
        if resource in short:
            part, hint = _shortfall(sandbox, resource, nodes)
            parts.append(part)
            if hint:
                hints.append(hint)
    if parts:
        where = (
            f"{short[max(short, key=short.__getitem__)]} of {total.group(1)}" if total else "the"
        )
        message = (
            f"No node has room for the sandbox: it {'; and '.join(parts)}. The scheduler "
            f"reports {where} nodes short ({summary})."
        )
        if not hints:  # it would fit an empty node: the nodes are full
            hints.append(
                "Delete idle sandboxes or ask for fewer resources; the scheduler retries by "
                "itself as capacity frees up."
            )
    else:
        message = f"No node can run the sandbox: {summary or 'the scheduler found none'}."
        if "affinity/selector" in text:
            hints.append(
                "No schedulable node carries the label the RuntimeClass selects "
                "(katacontainers.io/kata-runtime=true): Kata nodes are missing or cordoned."
            )
        else:
            hints.append("The scheduler retries by itself as nodes change.")
    return Diagnosis(DiagnosisReason.UNSCHEDULABLE, message, " ".join(hints))


def diagnose(
    sandbox: Sandbox,
    events: Iterable[SandboxEvent] = (),
    *,
    nodes: Sequence[NodeCapacity] | None = None,
) -> Diagnosis | None:
    """What is wrong with the sandbox, or None when nothing is (or it is being deleted).

    ``nodes`` (from the optional node-reader permission) lets an unschedulable sandbox's
    shortfall be compared with the largest node.
    """
    if sandbox.terminating:
        return None
    relevant = events_of(sandbox, events)
    return (
        _oom(sandbox)
        or _crash_loop(sandbox)
        or _image_pull(sandbox, relevant)
        or _runtime_handler(sandbox, relevant)
        or _create_error(sandbox, relevant)
        or _evicted(sandbox)
        or _exit_code(sandbox)
        or _unschedulable(sandbox, relevant, nodes)
    )
