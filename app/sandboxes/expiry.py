"""Time to live: when a sandbox expires, extending it, and EXPIRING notices before it does.

The expiry is the pod annotation ``kata-sandbox-api/expires-at`` (RFC 3339, UTC), written at
create (created-at + ttlSeconds, or the default TTL) and rewritten by :func:`extend_ttl`. Being
on the pod, every replica sees it and it survives restarts; the reaper (``app.sandboxes.reaper``)
deletes expired sandboxes.

An extension sets the expiry to *now* + ttlSeconds (at most ``Kubernetes.MaxTtlSeconds``), as a
lease renewal does; it may also shorten it. It is a merge patch conditioned on the
resourceVersion it read, so it cannot cross the reaper: once the reaper has marked the pod for
deletion (``kata-sandbox-api/deletion-reason``) the extension is refused with CONFLICT, and a
reaper decision taken before an extension fails its own conditional write.

EXPIRING notices are no watch events (the pod does not change when its expiry nears):
:func:`expiring_notices` derives them from the informer's store, sleeping until the next notice
is due or the store changes. Each subscriber runs its own, so every replica's subscribers get
them; a changed expiry (an extension) is noticed again when it nears.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol

from app.config import KubernetesSettings
from app.kube.ownership import EXPIRES_AT_ANNOTATION
from app.kube.pods import PodRepository
from app.models import BadUserInput, ChangeType, Conflict, NotFound, Sandbox, SandboxChange
from app.sandboxes.manifest import expiry_for, format_created_at

__all__ = ["check_ttl", "expiring_notices", "expiry_for", "extend_ttl", "merge_changes"]

EXTEND_ATTEMPTS = 3
STORE_CATCH_UP_SECONDS = 10.0
Clock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(UTC)


class SandboxStore(Protocol):
    """What the notices need of the informer."""

    @property
    def version(self) -> int: ...

    def sandboxes(self) -> list[Sandbox]: ...

    def get(self, name: str) -> Sandbox | None: ...

    async def wait_until(self, predicate: Callable[[], bool], *, timeout: float | None) -> bool: ...


def check_ttl(ttl_seconds: int, settings: KubernetesSettings, field: str) -> None:
    if not 0 < ttl_seconds <= settings.max_ttl_seconds:
        raise BadUserInput(f"must be between 1 and {settings.max_ttl_seconds} seconds", field=field)


async def extend_ttl(
    repository: PodRepository,
    store: SandboxStore,
    name: str,
    ttl_seconds: int,
    *,
    settings: KubernetesSettings,
    clock: Clock = _utc_now,
    field: str = "ttlSeconds",
) -> Sandbox:
    """Make ``name`` expire ``ttl_seconds`` from now; returns the sandbox as the store has it."""
    check_ttl(ttl_seconds, settings, field)
    current = store.get(name)
    if current is None:
        raise NotFound(f"sandbox {name!r} does not exist")
    patched = await _patch_expiry(repository, current, ttl_seconds, clock)
    wanted = patched.expires_at

    def reflected() -> bool:
        return (s := store.get(name)) is None or s.expires_at == wanted

    await store.wait_until(reflected, timeout=STORE_CATCH_UP_SECONDS)
    return store.get(name) or patched


async def _patch_expiry(
    repository: PodRepository, current: Sandbox, ttl_seconds: int, clock: Clock
) -> Sandbox:
    name = current.name
    for _ in range(EXTEND_ATTEMPTS):
        if current.terminating or current.deletion_reason is not None:
            why = f" ({current.deletion_reason.value})" if current.deletion_reason else ""
            raise Conflict(f"sandbox {name!r} is being deleted{why}; it cannot be extended")
        stamp = format_created_at(clock() + timedelta(seconds=ttl_seconds))
        try:
            return await repository.patch_annotations(
                name, {EXPIRES_AT_ANNOTATION: stamp}, resource_version=current.resource_version
            )
        except Conflict:
            # Changed since it was read (a status update, or the reaper): read it again.
            current = await repository.get(name)
    raise Conflict(f"sandbox {name!r} kept changing; try extending it again")


async def _changed(store: SandboxStore, version: int, timeout: float | None) -> None:
    await store.wait_until(lambda: store.version != version, timeout=timeout)


async def expiring_notices(
    store: SandboxStore,
    *,
    lead_seconds: float,
    clock: Clock = _utc_now,
    include_current: bool = True,
) -> AsyncGenerator[SandboxChange]:
    """EXPIRING changes, each ``lead_seconds`` before a sandbox's expiry; runs until closed.

    With ``include_current``, sandboxes already within the lead time when iteration starts are
    announced at once; otherwise only those entering it later.
    """
    lead = timedelta(seconds=lead_seconds)
    noticed: set[tuple[str, str, datetime]] = set()
    if not include_current:
        now = clock()
        noticed = {
            (s.name, s.uid, s.expires_at)
            for s in store.sandboxes()
            if s.expires_at is not None and s.expires_at - lead <= now
        }
    while True:
        now = clock()
        due: list[Sandbox] = []
        next_due: datetime | None = None
        for sandbox in store.sandboxes():
            if sandbox.expires_at is None or sandbox.terminating:
                continue
            key = (sandbox.name, sandbox.uid, sandbox.expires_at)
            if key in noticed:
                continue
            notice_at = sandbox.expires_at - lead
            if notice_at <= now:
                noticed.add(key)
                due.append(sandbox)
            elif next_due is None or notice_at < next_due:
                next_due = notice_at
        for sandbox in sorted(due, key=lambda s: (s.expires_at, s.name)):
            yield SandboxChange(ChangeType.EXPIRING, sandbox)
        present = {(s.name, s.uid) for s in store.sandboxes()}
        noticed = {key for key in noticed if key[:2] in present}
        version = store.version
        timeout = None
        if next_due is not None:
            timeout = max(0.0, (next_due - clock()).total_seconds())
        await _changed(store, version, timeout)


async def merge_changes(*sources: AsyncIterator[SandboxChange]) -> AsyncGenerator[SandboxChange]:
    """Interleave several change streams (e.g. an informer subscription and the EXPIRING
    notices) in arrival order. Ends when all end; an error in one ends all and is raised."""
    queue: asyncio.Queue[tuple[int, SandboxChange | BaseException | None]] = asyncio.Queue(1)

    async def pump(index: int, source: AsyncIterator[SandboxChange]) -> None:
        try:
            async for change in source:
                await queue.put((index, change))
        except Exception as error:
            await queue.put((index, error))
        else:
            await queue.put((index, None))

    tasks = [asyncio.create_task(pump(i, s)) for i, s in enumerate(sources)]
    running = len(tasks)
    try:
        while running:
            _, item = await queue.get()
            if item is None:
                running -= 1
            elif isinstance(item, BaseException):
                raise item
            else:
                yield item
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for source in sources:
            with contextlib.suppress(Exception):
                if hasattr(source, "aclose"):
                    await source.aclose()
                elif hasattr(source, "close"):
                    source.close()  # an informer Subscription
