"""The sandbox service: the operations the API offers, with their lifecycle rules.

Reads come from the informer's store, never the apiserver, so a dashboard's polling costs the
cluster nothing. Writes go to the apiserver, and then wait (bounded) until the store reflects the
write, so a client that queries right after a mutation sees its own change.

Create is safe to retry, takes an idempotency key and is rate limited: see
``app.sandboxes.creation``. ``extend`` renews a sandbox's TTL (``app.sandboxes.expiry``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from app.config import KubernetesSettings
from app.kube.informer import OrderKey, PodInformer, order_key
from app.kube.pods import LogOptions, PodRepository
from app.models import (
    BadUserInput,
    NotFound,
    Sandbox,
    SandboxEvent,
    SandboxPhase,
    SandboxSpec,
    Timeout,
)
from app.sandboxes.creation import PodCreator
from app.sandboxes.expiry import extend_ttl
from app.sandboxes.label_selector import compile_label_selector
from app.sandboxes.manifest import generate_pod_name
from app.sandboxes.rate_limit import CreationRateLimiter
from app.sandboxes.readiness import container_finished, container_started, readiness_failure
from app.sandboxes.tenancy import belongs_to

# How long a mutation waits for its own write to show up in the store.
STORE_CATCH_UP_SECONDS = 10.0
# After the container ends, the kubelet may still be flushing the last lines of its log.
LOG_DRAIN_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class SandboxFilter:
    label_selector: str | None = None
    phases: frozenset[SandboxPhase] | None = None
    ready: bool | None = None
    field_prefix: str = "filter"
    # Only this tenant's sandboxes (app.sandboxes.tenancy); None: every sandbox.
    tenant: str | None = None


# The stable order of lists and pages (creation time, then name), as the informer indexes it.
sort_key = order_key


@dataclass(frozen=True, slots=True)
class Page:
    sandboxes: list[Sandbox]
    has_next: bool
    total: int


class SandboxService:
    def __init__(
        self,
        repository: PodRepository,
        informer: PodInformer,
        settings: KubernetesSettings,
        *,
        name_factory: Callable[[str], str] = generate_pod_name,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.repository = repository
        self.informer = informer
        self.settings = settings
        self.name_factory = name_factory
        self.clock = clock
        self.rate_limiter = CreationRateLimiter(settings.max_creations_per_minute, clock=clock)
        self.creator = PodCreator(
            repository,
            informer,
            settings,
            name_factory=name_factory,
            clock=clock,
            limiter=self.rate_limiter,
        )

    # -- reads -------------------------------------------------------------------------------

    def get(self, name: str) -> Sandbox | None:
        return self.informer.get(name)

    def require(self, name: str) -> Sandbox:
        sandbox = self.informer.get(name)
        if sandbox is None:
            raise NotFound(f"sandbox {name!r} does not exist")
        return sandbox

    def find(self, sandbox_filter: SandboxFilter | None = None) -> list[Sandbox]:
        """Matching sandboxes in the stable order (creation time, then name)."""
        matches = self._matcher(sandbox_filter)
        return [s for s in self.informer.ordered() if matches(s)]

    def page(
        self, sandbox_filter: SandboxFilter | None, *, first: int, after: OrderKey | None = None
    ) -> Page:
        """Up to ``first`` matches after the ``after`` key, from the store's sorted index.

        Only the page (and one more, to know whether there is a next page) is walked; the total
        needs every match counted, which is free without a filter and one pass with one.
        """
        matches = self._matcher(sandbox_filter)
        picked: list[Sandbox] = []
        for sandbox in self.informer.ordered(after=after):
            if matches(sandbox):
                if len(picked) == first:
                    return Page(picked, has_next=True, total=self._total(sandbox_filter, matches))
                picked.append(sandbox)
        return Page(picked, has_next=False, total=self._total(sandbox_filter, matches))

    def _total(self, how: SandboxFilter | None, matches: Callable[[Sandbox], bool]) -> int:
        if how is None or how == SandboxFilter(field_prefix=how.field_prefix):
            return len(self.informer.store)
        return sum(1 for sandbox in self.informer.store.values() if matches(sandbox))

    def _matcher(self, how: SandboxFilter | None) -> Callable[[Sandbox], bool]:
        if how is None:
            return lambda _: True
        selector = (
            compile_label_selector(how.label_selector, field=f"{how.field_prefix}.labelSelector")
            if how.label_selector
            else None
        )

        def matches(s: Sandbox) -> bool:
            return (
                (selector is None or selector.matches(s.labels_as_dict()))
                and (how.phases is None or s.phase in how.phases)
                and (how.ready is None or s.ready == how.ready)
                and belongs_to(s, how.tenant)
            )

        return matches

    async def events(self, names: list[str]) -> dict[str, list[SandboxEvent]]:
        """Events of several sandboxes, oldest first; one apiserver request for all of them."""
        if len(names) == 1:
            return await self.repository.events(names[0])
        return await self.repository.events()

    async def logs(self, name: str, options: LogOptions) -> str:
        sandbox = self.require(name)
        if not container_started(sandbox):
            return ""
        return await self.repository.logs(name, options)

    # -- create ------------------------------------------------------------------------------

    async def create(self, spec: SandboxSpec, *, wait_for_ready: bool = False) -> Sandbox:
        """Create a sandbox (see ``app.sandboxes.creation``: retries, idempotency key, rate
        limit); with ``wait_for_ready``, wait until it is ready or will never be."""
        created = await self.creator.create(spec)
        if wait_for_ready:
            timeout = spec.ready_timeout_seconds or self.settings.default_ready_timeout_seconds
            return await self.wait_ready(created.name, timeout=timeout)
        return self.informer.get(created.name) or created

    async def extend(self, name: str, ttl_seconds: int, *, field: str = "ttlSeconds") -> Sandbox:
        """Make the sandbox expire ``ttl_seconds`` from now (see ``app.sandboxes.expiry``)."""
        self.require(name)
        return await extend_ttl(
            self.repository,
            self.informer,
            name,
            ttl_seconds,
            settings=self.settings,
            clock=self.clock,
            field=field,
        )

    async def wait_ready(self, name: str, *, timeout: float) -> Sandbox:
        """Wait for Ready; raise SandboxFailed with the reason, NotFound, or Timeout."""

        def settled() -> bool:
            sandbox = self.informer.get(name)
            return (
                sandbox is None
                or sandbox.ready
                or sandbox.terminating
                or readiness_failure(sandbox) is not None
            )

        await self.informer.wait_until(settled, timeout=timeout)
        sandbox = self.informer.get(name)
        if sandbox is None:
            raise NotFound(f"sandbox {name!r} was deleted before it became ready")
        if sandbox.ready:
            return sandbox
        # A deleted pod passes through Failed (exit 143) on its way out: that is no crash.
        if sandbox.terminating:
            raise NotFound(f"sandbox {name!r} is being deleted")
        failure = readiness_failure(sandbox)
        if failure is not None:
            raise failure
        raise Timeout(f"sandbox {name!r} was not ready within {timeout:g} seconds")

    # -- delete ------------------------------------------------------------------------------

    async def delete(
        self, name: str, *, grace_period_seconds: int | None = None, force: bool = False
    ) -> list[str]:
        self.require(name)
        await self.repository.delete(name, grace_period_seconds=grace_period_seconds, force=force)
        await self._catch_up_deleted([name])
        return [name]

    async def delete_matching(
        self,
        label_selector: str,
        *,
        grace_period_seconds: int | None = None,
        force: bool = False,
        field: str = "labelSelector",
        tenant: str | None = None,
    ) -> list[str]:
        """Delete the sandboxes ``label_selector`` matches (of ``tenant`` only, if given)."""
        if not label_selector.strip():
            # An empty selector matches everything; a bulk delete must not do that by accident.
            raise BadUserInput("an empty label selector would delete every sandbox", field=field)
        selector = compile_label_selector(label_selector, field=field)
        matching = [
            s
            for s in self.informer.sandboxes()
            if selector.matches(s.labels_as_dict()) and belongs_to(s, tenant)
        ]
        return await self._delete_all(matching, grace_period_seconds, force)

    async def cleanup(
        self,
        *,
        completed: bool = True,
        older_than_seconds: int | None = None,
        tenant: str | None = None,
    ) -> list[str]:
        """Delete finished sandboxes and/or those created more than ``older_than_seconds`` ago
        (of ``tenant`` only, if given)."""
        now = self.clock()
        cutoff = now - timedelta(seconds=older_than_seconds) if older_than_seconds else None
        victims = [
            s
            for s in self.informer.sandboxes()
            if not s.terminating
            and belongs_to(s, tenant)
            and (
                (completed and s.phase.is_terminal)
                or (cutoff is not None and s.created_at < cutoff)
            )
        ]
        return await self._delete_all(victims, None, False)

    async def _delete_all(
        self, sandboxes: list[Sandbox], grace_period_seconds: int | None, force: bool
    ) -> list[str]:
        names = [s.name for s in sandboxes]
        deleted = await self.repository.delete_many(
            names, grace_period_seconds=grace_period_seconds, force=force
        )
        await self._catch_up_deleted(deleted)
        return deleted

    async def _catch_up_deleted(self, names: list[str]) -> None:
        def reflected() -> bool:
            return all((s := self.informer.get(n)) is None or s.terminating for n in names)

        await self.informer.wait_until(reflected, timeout=STORE_CATCH_UP_SECONDS)

    # -- log streaming -----------------------------------------------------------------------

    async def follow_logs(self, name: str, options: LogOptions) -> AsyncGenerator[str]:
        """Yield log lines: waits for the container to start, ends when it ends or the pod goes."""
        sandbox = self.require(name)
        start_timeout = float(self.settings.max_ready_timeout_seconds)

        def can_read() -> bool:
            current = self.informer.get(name)
            return (
                current is None
                or container_started(current)
                or readiness_failure(current) is not None
            )

        await self.informer.wait_until(can_read, timeout=start_timeout)
        current = self.informer.get(name)
        if current is None:
            return
        if not container_started(current):
            failure = readiness_failure(current)
            if failure is not None:
                raise failure
            raise Timeout(f"the container of {sandbox.name!r} did not start")

        lines: asyncio.Queue[str] = asyncio.Queue(maxsize=1000)
        stream_done = asyncio.Event()
        ended = asyncio.Event()

        async def read() -> None:
            try:
                async for line in self.repository.follow_logs(name, options):
                    await lines.put(line)
            finally:
                stream_done.set()

        async def watch_end() -> None:
            await self.informer.wait_until(
                lambda: (s := self.informer.get(name)) is None or container_finished(s),
                timeout=None,
            )
            await asyncio.sleep(LOG_DRAIN_SECONDS)
            ended.set()

        reader = asyncio.create_task(read())
        watcher = asyncio.create_task(watch_end())
        try:
            while True:
                if lines.empty() and (stream_done.is_set() or ended.is_set()):
                    break
                getter = asyncio.ensure_future(lines.get())
                stop = asyncio.ensure_future(_first(stream_done, ended))
                try:
                    done, _ = await asyncio.wait(
                        {getter, stop}, return_when=asyncio.FIRST_COMPLETED
                    )
                except BaseException:
                    # Cancelled (the consumer went away): leave no pending get behind.
                    getter.cancel()
                    raise
                finally:
                    stop.cancel()
                if getter in done:
                    yield getter.result()
                else:
                    getter.cancel()
            if reader.done() and not reader.cancelled() and reader.exception() is not None:
                raise reader.exception()  # type: ignore[misc]
        finally:
            for task in (reader, watcher):
                task.cancel()
            for task in (reader, watcher):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task


async def _first(*events: asyncio.Event) -> None:
    waiters = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
