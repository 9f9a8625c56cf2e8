"""When is a sandbox ready, and when will it never be?

Ready is the pod's Ready condition. "Never" is decided from what the kubelet reports:

- the pod reached a terminal phase (Failed, or Succeeded: it exited before anyone could use it);
- the container waits for a reason that does not fix itself: ``ImagePullBackOff`` (the kubelet
  already failed to pull and now only retries with growing delays), ``InvalidImageName``,
  ``ErrImageNeverPull``, ``CreateContainerConfigError`` (e.g. a missing ConfigMap),
  ``CreateContainerError``, ``RunContainerError`` or ``CrashLoopBackOff``.

``ErrImagePull`` alone is not final: the first pull of a registry hiccup fails the same way.
"""

from __future__ import annotations

from app.models import ContainerStateKind, Sandbox, SandboxFailed, SandboxPhase

PERSISTENT_WAITING_REASONS = frozenset(
    {
        "ImagePullBackOff",
        "InvalidImageName",
        "ErrImageNeverPull",
        "CreateContainerConfigError",
        "CreateContainerError",
        "RunContainerError",
        "CrashLoopBackOff",
    }
)


def readiness_failure(sandbox: Sandbox) -> SandboxFailed | None:
    """Why ``sandbox`` will not become ready, or None while it still may."""
    for container in sandbox.containers:
        if container.state is ContainerStateKind.WAITING and (
            container.reason in PERSISTENT_WAITING_REASONS
        ):
            detail = f": {container.message}" if container.message else ""
            return SandboxFailed(
                f"sandbox {sandbox.name} cannot start ({container.reason}){detail}",
                reason=container.reason or "Unknown",
            )
    if sandbox.phase in (SandboxPhase.FAILED, SandboxPhase.SUCCEEDED):
        terminated = next(
            (c for c in sandbox.containers if c.state is ContainerStateKind.TERMINATED), None
        )
        reason = (
            (terminated.reason if terminated else None)
            or sandbox.reason
            or ("Completed" if sandbox.phase is SandboxPhase.SUCCEEDED else "Error")
        )
        exit_code = terminated.exit_code if terminated else None
        code = f" with exit code {exit_code}" if exit_code is not None else ""
        return SandboxFailed(
            f"sandbox {sandbox.name} ended ({reason}){code} before it became ready",
            reason=reason,
            exit_code=exit_code,
        )
    return None


def container_started(sandbox: Sandbox) -> bool:
    """The main container has run (or is running): its log exists."""
    return any(
        c.state is not ContainerStateKind.WAITING or c.started_at is not None
        for c in sandbox.containers
    )


def container_finished(sandbox: Sandbox) -> bool:
    """Nothing more will be written to the log of the current container."""
    if sandbox.phase.is_terminal:
        return True
    return bool(sandbox.containers) and all(
        c.state is ContainerStateKind.TERMINATED for c in sandbox.containers
    )
