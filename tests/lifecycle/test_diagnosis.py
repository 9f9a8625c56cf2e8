"""Boot phases, timelines and diagnoses of real pods on the simulated Kata nodes.

The pods are created through the service, their events come from the EventInformer's watch;
``boot_phase``/``timeline``/``diagnose`` get them exactly as the GraphQL layer will.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import cast

from kubernetes_asyncio.client import ApiClient, CoreV1Api, CoreV1Event

from app.config import KubernetesSettings, ResourceAmountSettings
from app.kube.event_informer import EventInformer
from app.models import (
    BOOT_SEQUENCE,
    BootPhase,
    Diagnosis,
    DiagnosisReason,
    ResourceAmounts,
    ResourceRequirements,
    RestartPolicy,
    Sandbox,
)
from app.sandboxes.boot import boot_phase, timeline
from app.sandboxes.diagnosis import diagnose
from app.sandboxes.service import SandboxService
from devcluster.cluster import SANDBOX_NAMESPACE
from devcluster.kwok import BOOT_DELAY_LABEL, EXIT_NONZERO, IMAGE_PULL_FAILURE
from tests.conftest import SpecFactory
from tests.lifecycle.conftest import Replicas, eventually

NO_HANDLER = (
    "Failed to create pod sandbox: rpc error: code = Unknown desc = failed to get sandbox "
    'runtime: no runtime for "kata-qemu" is configured'
)


def now_phase(service: SandboxService, events: EventInformer, name: str) -> BootPhase | None:
    sandbox = service.get(name)
    return boot_phase(sandbox, events.events_for(sandbox)) if sandbox else None


async def diagnosed(
    service: SandboxService, events: EventInformer, name: str, reason: DiagnosisReason
) -> tuple[Sandbox, Diagnosis]:
    found: list[tuple[Sandbox, Diagnosis]] = []

    def check() -> bool:
        sandbox = service.get(name)
        if sandbox is None:
            return False
        diagnosis = diagnose(sandbox, events.events_for(sandbox))
        if diagnosis is not None and diagnosis.reason is reason:
            found.append((sandbox, diagnosis))
        return bool(found)

    await eventually(check, what=f"diagnosis {reason.value}")
    return found[0]


async def test_a_boot_passes_every_phase_in_order_and_the_timeline_shows_it(
    service: SandboxService, pod_events: EventInformer, spec: SpecFactory
) -> None:
    created = await service.create(spec(**{BOOT_DELAY_LABEL: "2s"}))
    seen: list[BootPhase] = []

    def record() -> bool:
        phase = now_phase(service, pod_events, created.name)
        if phase is not None and (not seen or seen[-1] is not phase):
            seen.append(phase)
        return phase is BootPhase.READY

    await eventually(record, what="READY")
    assert BootPhase.BOOTING in seen  # the 2 s of the simulated VM boot were observed
    assert seen == [p for p in BOOT_SEQUENCE if p in seen]  # never out of order

    def all_events() -> bool:
        sandbox = service.get(created.name)
        reasons = {e.reason for e in pod_events.events_for(sandbox)} if sandbox else set()
        return {"Scheduled", "Pulling", "Pulled", "Started"} <= reasons

    await eventually(all_events, what="the boot's events")
    sandbox = service.get(created.name)
    assert sandbox is not None
    steps = timeline(sandbox, pod_events.events_for(sandbox))
    assert [s.phase for s in steps] == list(BOOT_SEQUENCE)
    times = [s.at for s in steps]
    assert times == sorted(times)
    assert times[0] == sandbox.created_at
    # The VM boot (BOOTING → PULLING_IMAGE) took the simulated 2 s; event times have whole
    # seconds, hence the tolerance.
    boot = (times[3] - times[2]).total_seconds()
    assert 1.0 <= boot <= 5.0, steps
    assert times[-1] <= datetime.now(UTC)


async def test_image_pull_failure(
    service: SandboxService, pod_events: EventInformer, spec: SpecFactory
) -> None:
    created = await service.create(spec(IMAGE_PULL_FAILURE, **{BOOT_DELAY_LABEL: "0s"}))
    sandbox, diagnosis = await diagnosed(
        service, pod_events, created.name, DiagnosisReason.IMAGE_PULL_FAILURE
    )
    assert "kata-sim.test/pull-failure" in diagnosis.message
    assert "could not be pulled" in diagnosis.message
    await eventually(
        lambda: now_phase(service, pod_events, created.name) is BootPhase.FAILED,
        what="FAILED",
    )
    sandbox = service.require(created.name)
    steps = timeline(sandbox, pod_events.events_for(sandbox))
    assert [s.phase for s in steps][-2:] == [BootPhase.PULLING_IMAGE, BootPhase.FAILED]


async def test_exit_code(
    service: SandboxService, pod_events: EventInformer, spec: SpecFactory
) -> None:
    created = await service.create(spec(EXIT_NONZERO, **{BOOT_DELAY_LABEL: "0s"}))
    sandbox, diagnosis = await diagnosed(
        service, pod_events, created.name, DiagnosisReason.EXIT_CODE
    )
    assert diagnosis.message.startswith("The container exited with code 1 (Error)")
    assert boot_phase(sandbox, pod_events.events_for(sandbox)) is BootPhase.FAILED
    steps = timeline(sandbox, pod_events.events_for(sandbox))
    assert [s.phase for s in steps][-2:] == [BootPhase.READY, BootPhase.FAILED]


async def test_crash_loop(
    service: SandboxService, pod_events: EventInformer, spec: SpecFactory
) -> None:
    looping = dataclasses.replace(
        spec(EXIT_NONZERO, **{BOOT_DELAY_LABEL: "0s"}), restart_policy=RestartPolicy.ALWAYS
    )
    created = await service.create(looping)
    sandbox, diagnosis = await diagnosed(
        service, pod_events, created.name, DiagnosisReason.CRASH_LOOP
    )
    assert "last exit code 1 (Error)" in diagnosis.message
    assert "restartPolicy NEVER" in diagnosis.hint
    assert boot_phase(sandbox, pod_events.events_for(sandbox)) is BootPhase.FAILED


async def test_too_much_memory_is_unschedulable_counting_the_kata_overhead(
    replicas: Replicas, pod_events: EventInformer, spec: SpecFactory
) -> None:
    roomy = KubernetesSettings(
        max_resource_limits=ResourceAmountSettings(memory_mi=32768, cpu_millicores=2000)
    )
    async with replicas(roomy) as big:
        huge = dataclasses.replace(
            spec(),
            resources=ResourceRequirements(requests=ResourceAmounts(memory_mi=20000)),
        )
        created = await big.service.create(huge)
        sandbox, diagnosis = await diagnosed(
            big.service, pod_events, created.name, DiagnosisReason.UNSCHEDULABLE
        )
    assert "needs 20160Mi memory incl. 160Mi Kata overhead" in diagnosis.message
    assert "4 of 4 nodes short" in diagnosis.message
    assert boot_phase(sandbox, pod_events.events_for(sandbox)) is BootPhase.ACCEPTED


async def test_missing_runtime_handler_from_the_kubelets_event(
    service: SandboxService,
    pod_events: EventInformer,
    spec: SpecFactory,
    admin_api: ApiClient,
) -> None:
    # kwok cannot fail to create a pod sandbox, so the event a kubelet on a node without Kata
    # writes is posted as that kubelet would (reason, message, involvedObject with the uid).
    created = await service.create(spec(**{BOOT_DELAY_LABEL: "120s"}))
    await eventually(
        lambda: now_phase(service, pod_events, created.name) is BootPhase.BOOTING, what="BOOTING"
    )
    sandbox = service.require(created.name)
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    await CoreV1Api(admin_api).create_namespaced_event(
        SANDBOX_NAMESPACE,
        cast(
            "CoreV1Event",
            {
                "metadata": {"generateName": f"{sandbox.name}."},
                "involvedObject": {
                    "kind": "Pod",
                    "namespace": SANDBOX_NAMESPACE,
                    "name": sandbox.name,
                    "uid": sandbox.uid,
                    "apiVersion": "v1",
                },
                "type": "Warning",
                "reason": "FailedCreatePodSandBox",
                "message": NO_HANDLER,
                "source": {"component": "kubelet", "host": sandbox.node_name},
                "firstTimestamp": stamp,
                "lastTimestamp": stamp,
                "count": 1,
            },
        ),
    )
    _, diagnosis = await diagnosed(
        service, pod_events, created.name, DiagnosisReason.MISSING_RUNTIME_HANDLER
    )
    assert diagnosis.message.startswith(f"Node {sandbox.node_name} cannot start Kata VMs")
    assert now_phase(service, pod_events, created.name) is BootPhase.FAILED


async def test_a_deleted_sandbox_is_terminating_without_diagnosis(
    service: SandboxService, pod_events: EventInformer, spec: SpecFactory
) -> None:
    created = await service.create(spec(**{BOOT_DELAY_LABEL: "0s"}), wait_for_ready=True)
    await service.delete(created.name, grace_period_seconds=5)
    sandbox = service.get(created.name)
    assert sandbox is not None
    assert boot_phase(sandbox, pod_events.events_for(sandbox)) is BootPhase.TERMINATING
    assert diagnose(sandbox, pod_events.events_for(sandbox)) is None
    steps = timeline(sandbox, pod_events.events_for(sandbox))
    assert steps[-1].phase is BootPhase.TERMINATING
    assert steps[-2].phase is BootPhase.READY
