"""Idempotent creates racing across replicas, and the creation rate limit shared by replicas."""

from __future__ import annotations

import asyncio
import dataclasses
import secrets

import pytest

from app.config import KubernetesSettings
from app.models import Conflict, RateLimited, SandboxSpec
from app.sandboxes.idempotency import candidate_names
from app.sandboxes.service import SandboxService
from devcluster.kwok import BOOT_DELAY_LABEL
from tests.conftest import SpecFactory
from tests.lifecycle.conftest import Replicas, eventually, own_pods


def keyed(spec: SpecFactory, **labels: str) -> SandboxSpec:
    return dataclasses.replace(spec(**labels), idempotency_key=f"order-{secrets.token_hex(6)}")


async def test_racing_creates_with_one_key_on_two_replicas_make_one_sandbox(
    service: SandboxService, replicas: Replicas, spec: SpecFactory
) -> None:
    wanted = keyed(spec, **{BOOT_DELAY_LABEL: "3s"})
    async with replicas() as other:
        results = await asyncio.gather(
            service.create(wanted),
            other.service.create(wanted),
            service.create(wanted),
            other.service.create(wanted),
        )
        names = {s.name for s in results}
        assert len(names) == 1
        (name,) = names
        assert name == candidate_names("kata-sandbox", wanted.idempotency_key or "", 1)[0]
        assert len({s.uid for s in results}) == 1
        mine = [
            s for s in other.informer.sandboxes() if s.idempotency_key == wanted.idempotency_key
        ]
        assert [s.name for s in mine] == [name]

        # While it boots, a retry (from either replica) returns it; waiting works too.
        again = await other.service.create(wanted)
        assert (again.name, again.ready) == (name, False)
        ready = await service.create(wanted, wait_for_ready=True)
        assert ready.name == name
        assert ready.ready

        # The same key for a different sandbox is refused, on every replica.
        different = dataclasses.replace(wanted, image="docker.io/library/alpine:3.20")
        for replica_service in (service, other.service):
            with pytest.raises(Conflict, match="different spec"):
                await replica_service.create(different)


async def test_a_key_is_free_again_once_its_sandbox_is_gone(
    service: SandboxService, spec: SpecFactory
) -> None:
    wanted = keyed(spec)
    first = await service.create(wanted)
    await service.delete(first.name, force=True)
    await eventually(lambda: service.get(first.name) is None, what="the pod gone")
    second = await service.create(wanted)
    assert second.name == first.name  # the key's name again
    assert second.uid != first.uid


async def test_rate_limit_counts_creations_of_all_replicas(
    replicas: Replicas, spec: SpecFactory
) -> None:
    # Both replicas watch only this test's sandboxes (their selector adds its tag), so the count
    # is exactly what the test creates, whatever other tests left behind.
    limited = KubernetesSettings(max_creations_per_minute=3)
    scope = own_pods(spec)
    async with replicas(limited, selector=scope) as one, replicas(limited, selector=scope) as two:
        made = [
            await one.service.create(spec()),
            await two.service.create(spec()),
            await one.service.create(keyed(spec)),
        ]
        names = {s.name for s in made}
        await eventually(
            lambda: (
                names <= {s.name for s in one.informer.sandboxes()}
                and names <= {s.name for s in two.informer.sandboxes()}
            ),
            what="both replicas to see all three",
        )
        for replica in (one, two):
            with pytest.raises(RateLimited) as refused:
                await replica.service.create(spec())
            wait = refused.value.retry_after_seconds
            assert wait is not None
            assert 1 <= wait <= 60
            assert refused.value.extensions()["retryAfterSeconds"] == wait
        # Replaying an idempotent create is no new creation: not limited.
        replayed = made[2]
        assert replayed.idempotency_key is not None
        again = await two.service.create(
            dataclasses.replace(spec(), idempotency_key=replayed.idempotency_key)
        )
        assert again.name == replayed.name
