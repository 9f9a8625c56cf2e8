from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app.models import ContainerStateKind, ContainerStatus, Sandbox, SandboxPhase
from app.sandboxes.readiness import container_finished, container_started, readiness_failure


def sandbox(phase: SandboxPhase, *containers: ContainerStatus) -> Sandbox:
    return Sandbox(
        name="kata-sandbox-12345678",
        namespace="sandbox-containers",
        image="busybox",
        phase=phase,
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
        containers=containers,
    )


def waiting(reason: str | None) -> ContainerStatus:
    return ContainerStatus("sandbox", "busybox", state=ContainerStateKind.WAITING, reason=reason)


def terminated(reason: str, exit_code: int) -> ContainerStatus:
    return ContainerStatus(
        "sandbox",
        "busybox",
        state=ContainerStateKind.TERMINATED,
        reason=reason,
        exit_code=exit_code,
    )


@pytest.mark.parametrize(
    "reason",
    ["ImagePullBackOff", "InvalidImageName", "CreateContainerConfigError", "CrashLoopBackOff"],
)
def test_persistent_waiting_reasons_are_failures(reason: str) -> None:
    failure = readiness_failure(sandbox(SandboxPhase.PENDING, waiting(reason)))
    assert failure is not None
    assert failure.reason == reason


@pytest.mark.parametrize("reason", [None, "ContainerCreating", "ErrImagePull"])
def test_transient_waiting_reasons_are_not(reason: str | None) -> None:
    assert readiness_failure(sandbox(SandboxPhase.PENDING, waiting(reason))) is None


def test_terminal_phases_report_reason_and_exit_code() -> None:
    failed = readiness_failure(sandbox(SandboxPhase.FAILED, terminated("OOMKilled", 137)))
    assert failed is not None
    assert (failed.reason, failed.exit_code) == ("OOMKilled", 137)
    done = readiness_failure(sandbox(SandboxPhase.SUCCEEDED, terminated("Completed", 0)))
    assert done is not None
    assert done.exit_code == 0
    assert done.extensions()["code"] == "SANDBOX_FAILED"


def test_started_and_finished() -> None:
    creating = sandbox(SandboxPhase.PENDING, waiting("ContainerCreating"))
    running = sandbox(
        SandboxPhase.RUNNING,
        ContainerStatus("sandbox", "busybox", state=ContainerStateKind.RUNNING),
    )
    ended = sandbox(SandboxPhase.SUCCEEDED, terminated("Completed", 0))
    assert not container_started(creating)
    assert container_started(running)
    assert container_started(ended)
    assert not container_finished(running)
    assert container_finished(ended)
