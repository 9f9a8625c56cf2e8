from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app.models import BootPhase, PhaseTransition, SandboxEvent
from app.sandboxes.boot import boot_phase, events_of, timeline
from tests.unit import podstates as p


def ts(second: int, micros: int = 0) -> datetime:
    return datetime(2026, 12, 4, 15, 54, second, micros, tzinfo=UTC)


@pytest.mark.parametrize(
    ("pod", "events", "phase"),
    [
        (p.accepted(), (), BootPhase.ACCEPTED),
        (p.unschedulable(), (), BootPhase.ACCEPTED),
        (p.scheduled(), (p.SCHEDULED,), BootPhase.SCHEDULED),
        (p.booting(), (p.SCHEDULED,), BootPhase.BOOTING),
        (p.vm_up(), (p.SCHEDULED, p.PULLING), BootPhase.PULLING_IMAGE),
        (p.vm_up(), (), BootPhase.PULLING_IMAGE),
        (p.vm_up(), (p.SCHEDULED, p.PULLING, p.PULLED), BootPhase.STARTING),
        (p.waiting("ErrImagePull", "not found"), (p.PULLING,), BootPhase.PULLING_IMAGE),
        (p.running(ready=False), p.HAPPY_EVENTS, BootPhase.STARTING),
        (p.running(), p.HAPPY_EVENTS, BootPhase.READY),
        (p.waiting("ImagePullBackOff", 'Back-off pulling image "x"'), (), BootPhase.FAILED),
        (p.crash_loop(), p.HAPPY_EVENTS, BootPhase.FAILED),
        (p.exited(1), p.HAPPY_EVENTS, BootPhase.FAILED),
        (p.exited(0), p.HAPPY_EVENTS, BootPhase.COMPLETED),
        (p.terminating(p.running()), p.HAPPY_EVENTS, BootPhase.TERMINATING),
        (p.terminating(p.exited(1)), p.HAPPY_EVENTS, BootPhase.TERMINATING),
    ],
)
def test_boot_phase(pod: p.Pod, events: tuple[SandboxEvent, ...], phase: BootPhase) -> None:
    assert boot_phase(p.sandbox(pod), events) is phase


def test_a_missing_runtime_handler_is_a_failed_boot() -> None:
    failure = p.event(
        "FailedCreatePodSandBox",
        "Failed to create pod sandbox: rpc error: code = Unknown desc = failed to get sandbox "
        'runtime: no runtime for "kata-qemu" is configured',
        second=46,
        kind="Warning",
    )
    assert boot_phase(p.sandbox(p.booting()), (p.SCHEDULED, failure)) is BootPhase.FAILED
    # Another sandbox-creation failure (e.g. the CNI) is not a verdict: still booting.
    network = p.event(
        "FailedCreatePodSandBox", "failed to setup network for sandbox", second=46, kind="Warning"
    )
    assert boot_phase(p.sandbox(p.booting()), (p.SCHEDULED, network)) is BootPhase.BOOTING


def test_events_of_an_earlier_pod_of_the_same_name_are_ignored() -> None:
    stale = p.event("Pulled", "Successfully pulled image", second=40, uid="another-uid")
    sandbox = p.sandbox(p.vm_up())
    assert events_of(sandbox, (p.PULLING, stale)) == [p.PULLING]
    assert boot_phase(sandbox, (p.PULLING, stale)) is BootPhase.PULLING_IMAGE


def test_timeline_of_a_ready_sandbox_in_boot_order_never_going_back() -> None:
    steps = timeline(p.sandbox(p.running()), p.HAPPY_EVENTS)
    assert steps == [
        PhaseTransition(BootPhase.ACCEPTED, ts(45, 200000)),
        PhaseTransition(BootPhase.SCHEDULED, ts(45, 241228)),
        # startTime has whole seconds (45.000): clamped to the step before.
        PhaseTransition(BootPhase.BOOTING, ts(45, 241228)),
        PhaseTransition(BootPhase.PULLING_IMAGE, ts(46)),
        PhaseTransition(BootPhase.STARTING, ts(47)),
        PhaseTransition(BootPhase.READY, ts(47)),
    ]


def test_timeline_without_events_comes_from_the_pod() -> None:
    phases = [step.phase for step in timeline(p.sandbox(p.running()))]
    assert phases == [
        BootPhase.ACCEPTED,
        BootPhase.SCHEDULED,
        BootPhase.BOOTING,
        BootPhase.PULLING_IMAGE,
        BootPhase.STARTING,
        BootPhase.READY,
    ]


def test_timeline_ends_with_the_current_phase() -> None:
    booting = timeline(p.sandbox(p.booting()), (p.SCHEDULED,))
    assert [s.phase for s in booting] == [
        BootPhase.ACCEPTED,
        BootPhase.SCHEDULED,
        BootPhase.BOOTING,
    ]
    pending = timeline(p.sandbox(p.unschedulable()))
    assert pending == [PhaseTransition(BootPhase.ACCEPTED, ts(45, 200000))]


def test_timeline_of_a_failed_pull_ends_failed_at_the_warning() -> None:
    failed = p.event("Failed", "Failed to pull image", second=47, kind="Warning")
    backoff = p.event("BackOff", "Back-off pulling image", second=48)
    pod = p.waiting("ImagePullBackOff", "Back-off pulling image")
    steps = timeline(p.sandbox(pod), (p.SCHEDULED, p.PULLING, failed, backoff))
    assert [s.phase for s in steps] == [
        BootPhase.ACCEPTED,
        BootPhase.SCHEDULED,
        BootPhase.BOOTING,
        BootPhase.PULLING_IMAGE,
        BootPhase.FAILED,
    ]
    assert steps[-1].at == ts(47)


def test_timeline_of_an_exit_shows_ready_then_the_outcome_at_the_finish() -> None:
    steps = timeline(p.sandbox(p.exited(1)), p.HAPPY_EVENTS)
    assert [s.phase for s in steps][-2:] == [BootPhase.READY, BootPhase.FAILED]
    assert steps[-1].at == ts(48)
    completed = timeline(p.sandbox(p.exited(0)), p.HAPPY_EVENTS)
    assert completed[-1] == PhaseTransition(BootPhase.COMPLETED, ts(48))


def test_timeline_of_a_deletion_starts_terminating_when_it_was_requested() -> None:
    steps = timeline(p.sandbox(p.terminating(p.running())), p.HAPPY_EVENTS)
    # deletionTimestamp 15:54:59 less the 10 s grace period.
    assert steps[-1] == PhaseTransition(BootPhase.TERMINATING, ts(49))
    assert BootPhase.READY in [s.phase for s in steps]
    finished_first = timeline(p.sandbox(p.terminating(p.exited(0))), p.HAPPY_EVENTS)
    assert [s.phase for s in finished_first][-2:] == [BootPhase.COMPLETED, BootPhase.TERMINATING]
