"""Boot time observations: once per sandbox, never for sandboxes booted before we watched."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from prometheus_client import CollectorRegistry, Histogram

from app.models import (
    ChangeType,
    PodCondition,
    Sandbox,
    SandboxChange,
    SandboxPhase,
)
from app.observability.informer import BootTimes

CREATED = datetime(2025, 5, 1, 12, 0, 0, tzinfo=UTC)


def sandbox(name: str, *, ready_after: float | None) -> Sandbox:
    conditions: tuple[PodCondition, ...] = ()
    if ready_after is not None:
        at = CREATED + timedelta(seconds=ready_after)
        conditions = (PodCondition("Ready", "True", last_transition_time=at),)
    return Sandbox(
        name,
        "sandbox-containers",
        "busybox",
        SandboxPhase.RUNNING if ready_after is not None else SandboxPhase.PENDING,
        CREATED,
        uid=f"uid-{name}",
        ready=ready_after is not None,
        conditions=conditions,
    )


class Informer:
    """The informer's synced flag: False while its first list is being published."""

    synced = False


def observer() -> tuple[BootTimes, Histogram, Informer]:
    histogram = Histogram("boot", "boot", buckets=(5, 20, 60), registry=CollectorRegistry())
    state = Informer()
    return BootTimes(histogram, synced=lambda: state.synced), histogram, state


def counted(histogram: Histogram) -> tuple[float, float]:
    (family,) = histogram.collect()
    samples = {s.name: s.value for s in family.samples}
    return samples["boot_count"], samples["boot_sum"]


def test_each_sandbox_counts_once_from_creation_to_its_ready_condition() -> None:
    boot, histogram, state = observer()
    state.synced = True
    boot(SandboxChange(ChangeType.ADDED, sandbox("a", ready_after=None)))
    assert counted(histogram) == (0, 0)
    boot(SandboxChange(ChangeType.MODIFIED, sandbox("a", ready_after=14)))
    boot(SandboxChange(ChangeType.MODIFIED, sandbox("a", ready_after=14)))  # any later change
    assert counted(histogram) == (1, 14)
    boot(SandboxChange(ChangeType.DELETED, sandbox("a", ready_after=14)))
    assert boot.tracked == 0


def test_sandboxes_ready_in_the_first_list_are_not_counted() -> None:
    boot, histogram, state = observer()
    boot(SandboxChange(ChangeType.ADDED, sandbox("old", ready_after=20)))
    boot(SandboxChange(ChangeType.ADDED, sandbox("booting", ready_after=None)))
    state.synced = True
    boot(SandboxChange(ChangeType.MODIFIED, sandbox("old", ready_after=20)))
    boot(SandboxChange(ChangeType.MODIFIED, sandbox("booting", ready_after=3)))
    # A relist after 410 announces new sandboxes as ADDED: already Ready, they count.
    boot(SandboxChange(ChangeType.ADDED, sandbox("in-the-gap", ready_after=30)))
    assert counted(histogram) == (2, 33)
