"""The sandbox service against the real control plane, acting as kata-manager."""

from __future__ import annotations

import asyncio

import pytest

from app.kube.pods import LogOptions, PodRepository
from app.models import (
    BadUserInput,
    ChangeType,
    NotFound,
    SandboxFailed,
    SandboxPhase,
    SandboxSpec,
    Timeout,
)
from app.sandboxes.manifest import generate_pod_name
from app.sandboxes.service import SandboxFilter, SandboxService
from devcluster.kwok import EXIT_NONZERO, EXIT_ZERO, IMAGE_PULL_FAILURE
from tests.conftest import SpecFactory


async def test_create_returns_the_pod_and_the_store_already_has_it(
    service: SandboxService, spec: SpecFactory
) -> None:
    created = await service.create(spec())
    assert created.name.startswith("kata-sandbox-")
    assert created.runtime_class_name == "kata-qemu"
    # RuntimeClass admission copied the VM overhead into the pod.
    assert created.resources.overhead is not None
    assert created.resources.overhead.memory_mi == 160
    assert created.resources.overhead.cpu_millicores == 250
    assert service.get(created.name) is not None


async def test_wait_for_ready_returns_a_ready_sandbox(
    service: SandboxService, spec: SpecFactory
) -> None:
    sandbox = await service.create(spec(), wait_for_ready=True)
    assert sandbox.ready
    assert sandbox.phase is SandboxPhase.RUNNING
    assert sandbox.pod_ip
    assert sandbox.node_name in {"office1", "office2", "office3", "office4"}


async def test_wait_for_ready_fails_with_the_image_pull_reason(
    service: SandboxService, spec: SpecFactory
) -> None:
    with pytest.raises(SandboxFailed) as failure:
        await service.create(spec(IMAGE_PULL_FAILURE), wait_for_ready=True)
    assert failure.value.reason == "ImagePullBackOff"


async def test_wait_for_ready_times_out(service: SandboxService, spec: SpecFactory) -> None:
    slow = spec(**{"kata-sim.test/boot-delay": "30s"})
    with pytest.raises(Timeout):
        await service.create(
            SandboxSpec(image=slow.image, labels=slow.labels, ready_timeout_seconds=1),
            wait_for_ready=True,
        )


async def test_wait_ready_reports_an_exit_before_ready(
    service: SandboxService, spec: SpecFactory
) -> None:
    created = await service.create(spec(EXIT_NONZERO, **{"kata-sim.test/boot-delay": "0s"}))
    await service.informer.wait_until(
        lambda: (s := service.get(created.name)) is not None and s.phase.is_terminal, timeout=30
    )
    with pytest.raises(SandboxFailed) as failure:
        await service.wait_ready(created.name, timeout=5)
    assert failure.value.exit_code == 1


async def test_create_retries_with_a_new_name_when_the_name_is_taken(
    service: SandboxService, spec: SpecFactory
) -> None:
    taken = await service.create(spec())
    names = iter([taken.name, generate_pod_name("kata-sandbox")])
    retrying = SandboxService(
        service.repository, service.informer, service.settings, name_factory=lambda _: next(names)
    )
    created = await retrying.create(spec())
    assert created.name != taken.name
    assert service.get(taken.name) is not None


async def test_invalid_spec_is_refused_before_anything_is_created(
    service: SandboxService, spec: SpecFactory
) -> None:
    before = len(service.informer.store)
    bad = SandboxSpec(image="UPPERCASE/Not An Image", labels=spec().labels)
    with pytest.raises(BadUserInput) as error:
        await service.create(bad)
    assert error.value.field == "input.image"
    assert len(service.informer.store) == before


async def test_find_filters_by_selector_phase_and_readiness(
    service: SandboxService, spec: SpecFactory
) -> None:
    running = await service.create(spec(role="a"), wait_for_ready=True)
    await service.create(spec(IMAGE_PULL_FAILURE, role="b"))
    mine = service.find(SandboxFilter(label_selector=spec.selector))
    assert len(mine) == 2
    assert mine == sorted(mine, key=lambda s: (s.created_at, s.name))
    ready = service.find(SandboxFilter(label_selector=spec.selector, ready=True))
    assert [s.name for s in ready] == [running.name]
    pending = service.find(
        SandboxFilter(
            label_selector=f"{spec.selector},role in (b)", phases=frozenset({SandboxPhase.PENDING})
        )
    )
    assert len(pending) == 1
    with pytest.raises(BadUserInput) as error:
        service.find(SandboxFilter(label_selector="role in (a"))
    assert error.value.field == "filter.labelSelector"


async def test_delete_marks_terminating_then_the_pod_goes_away(
    service: SandboxService, spec: SpecFactory
) -> None:
    sandbox = await service.create(spec(), wait_for_ready=True)
    async with service.informer.subscribe() as changes:
        assert await service.delete(sandbox.name, grace_period_seconds=5) == [sandbox.name]
        current = service.get(sandbox.name)
        assert current is None or current.terminating
        async with asyncio.timeout(30):
            async for change in changes:
                if change.sandbox.name == sandbox.name and change.type is ChangeType.DELETED:
                    break


async def test_delete_of_an_unknown_sandbox_is_not_found(service: SandboxService) -> None:
    with pytest.raises(NotFound):
        await service.delete("kata-sandbox-00000000")


async def test_delete_matching_and_cleanup(service: SandboxService, spec: SpecFactory) -> None:
    keep = await service.create(spec(group="keep"))
    doomed = [await service.create(spec(group="doomed")) for _ in range(3)]
    deleted = await service.delete_matching(f"{spec.selector},group=doomed", force=True)
    assert sorted(deleted) == sorted(s.name for s in doomed)
    assert service.get(keep.name) is not None
    with pytest.raises(BadUserInput):
        await service.delete_matching("  ")

    finished = [
        await service.create(spec(image, **{"kata-sim.test/boot-delay": "0s"}))
        for image in (EXIT_ZERO, EXIT_NONZERO)
    ]
    await service.informer.wait_until(
        lambda: all((s := service.get(f.name)) and s.phase.is_terminal for f in finished),
        timeout=30,
    )
    cleaned = await service.cleanup(completed=True)
    assert {f.name for f in finished} <= set(cleaned)
    assert keep.name not in cleaned
    older = await service.cleanup(completed=False, older_than_seconds=3600)
    assert keep.name not in older


async def test_logs_tail_and_follow_until_the_container_exits(
    service: SandboxService, spec: SpecFactory
) -> None:
    sandbox = await service.create(
        spec(EXIT_ZERO, **{"kata-sim.test/run-duration": "3s"}), wait_for_ready=True
    )
    tail = await service.logs(sandbox.name, LogOptions(tail_lines=2))
    assert len(tail.strip().splitlines()) == 2

    async def follow() -> list[str]:
        return [line async for line in service.follow_logs(sandbox.name, LogOptions())]

    lines = await asyncio.wait_for(follow(), timeout=30)
    assert lines
    final = service.get(sandbox.name)
    assert final is not None
    assert final.phase is SandboxPhase.SUCCEEDED


async def test_follow_waits_for_the_container_to_start(
    service: SandboxService, spec: SpecFactory
) -> None:
    sandbox = await service.create(spec(**{"kata-sim.test/boot-delay": "2s"}))
    stream = service.follow_logs(sandbox.name, LogOptions(tail_lines=1))
    first = await asyncio.wait_for(anext(stream), timeout=30)
    assert first
    await stream.aclose()


async def test_events_are_listed_oldest_first(service: SandboxService, spec: SpecFactory) -> None:
    sandbox = await service.create(spec(), wait_for_ready=True)

    async def lifecycle_seen() -> bool:
        events = (await service.events([sandbox.name])).get(sandbox.name, [])
        return {"Scheduled", "Started"} <= {e.reason for e in events}

    async with asyncio.timeout(30):
        while not await lifecycle_seen():
            await asyncio.sleep(0.2)
    events = (await service.events([sandbox.name]))[sandbox.name]
    reasons = [e.reason for e in events]
    assert reasons.index("Scheduled") < reasons.index("Started")
    batched = await service.events([sandbox.name, "kata-sandbox-ffffffff"])
    assert [e.reason for e in batched[sandbox.name]] == reasons


async def test_repository_outside_its_namespace_is_forbidden(
    repository: PodRepository, spec: SpecFactory
) -> None:
    from app.models import Forbidden

    elsewhere = PodRepository(repository.transport, "default")
    with pytest.raises(Forbidden):
        await elsewhere.list_raw()


async def test_apiserver_validation_errors_carry_their_causes(repository: PodRepository) -> None:
    manifest = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "Invalid_Name", "labels": {"app": "kata-sandbox"}},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]},
    }
    with pytest.raises(BadUserInput) as error:
        await repository.create(manifest)
    assert any(cause.field == "metadata.name" for cause in error.value.causes)


async def test_pages_walk_the_sorted_index(service: SandboxService, spec: SpecFactory) -> None:
    created = [await service.create(spec(batch="paged")) for _ in range(5)]
    expected = sorted(created, key=lambda s: (s.created_at, s.name))
    mine = SandboxFilter(label_selector=f"{spec.selector},batch=paged")
    first = service.page(mine, first=2)
    assert [s.name for s in first.sandboxes] == [s.name for s in expected[:2]]
    assert first.has_next
    assert first.total == 5
    last_key = (first.sandboxes[-1].created_at, first.sandboxes[-1].name)
    second = service.page(mine, first=10, after=last_key)
    assert [s.name for s in second.sandboxes] == [s.name for s in expected[2:]]
    assert not second.has_next
    everything = service.page(None, first=1)
    assert everything.total == len(service.informer.store)
