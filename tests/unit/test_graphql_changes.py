"""What subscriptions send beyond pod changes (``app.graphql.changes``), with a stand-in runtime:
EXPIRING notices, MODIFIED when events alone move the boot phase, never a pod state going
backwards, the end with the informer subscription; and the reason a SandboxChange carries."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from types import SimpleNamespace
from typing import cast

from app.graphql.changes import SentViews, lifecycle_changes
from app.graphql.context import GraphQLContext
from app.graphql.enums import ChangeType as GraphQLChangeType
from app.graphql.enums import DeletionReason as GraphQLDeletionReason
from app.graphql.lifecycle import phase_of
from app.graphql.types import SandboxChange as GraphQLSandboxChange
from app.models import BootPhase, ChangeType, Sandbox, SandboxChange, SandboxEvent
from tests.unit import podstates as states


class StubEvents:
    def __init__(self) -> None:
        self.version = 0
        self.by_name: dict[str, list[SandboxEvent]] = {}
        self._changed = asyncio.Event()

    def set(self, name: str, *events: SandboxEvent) -> None:
        self.by_name[name] = list(events)
        self.version += 1
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def wait_until(self, predicate: Callable[[], bool], *, timeout: float | None) -> bool:
        while not predicate():
            await self._changed.wait()
        return True


class StubRuntime:
    def __init__(self) -> None:
        self.events = StubEvents()
        self.notices: asyncio.Queue[SandboxChange] = asyncio.Queue()

    def events_for(self, sandbox: Sandbox) -> list[SandboxEvent]:
        return self.events.by_name.get(sandbox.name, [])

    def expiring_notices(self, *, include_current: bool = True) -> AsyncGenerator[SandboxChange]:
        return self._notices()

    async def _notices(self) -> AsyncGenerator[SandboxChange]:
        while True:
            yield await self.notices.get()


class Primary:
    """An informer subscription: changes put in, None ends it."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[SandboxChange | None] = asyncio.Queue()

    def __aiter__(self) -> AsyncIterator[SandboxChange]:
        return self

    async def __anext__(self) -> SandboxChange:
        change = await self.queue.get()
        if change is None:
            raise StopAsyncIteration
        return change


def _context(runtime: StubRuntime | None) -> GraphQLContext:
    return cast(GraphQLContext, SimpleNamespace(lifecycle=runtime))


async def _next(stream: AsyncIterator[SandboxChange]) -> SandboxChange:
    async with asyncio.timeout(5):
        return await anext(stream)


async def test_events_alone_moving_the_phase_resend_the_snapshot_last_sent() -> None:
    runtime = StubRuntime()
    context = _context(runtime)
    pulling = states.sandbox(states.vm_up())
    runtime.events.set(pulling.name, states.SCHEDULED, states.PULLING)
    assert phase_of(context, pulling) is BootPhase.PULLING_IMAGE
    sent = SentViews(context)
    sent.record(pulling)
    primary = Primary()
    stream = lifecycle_changes(context, primary, sent, include_current=True)
    async with contextlib.aclosing(stream):
        # The image is pulled: an event, no pod change.
        runtime.events.set(pulling.name, states.SCHEDULED, states.PULLING, states.PULLED)
        change = await _next(stream)
        assert change.type is ChangeType.MODIFIED
        assert change.sandbox is pulling
        assert sent.is_news(change.sandbox)
        assert phase_of(context, change.sandbox) is BootPhase.STARTING
        sent.record(change.sandbox)
        assert not sent.outdated()


async def test_a_newer_pod_state_sent_meanwhile_is_never_replaced_by_an_older_one() -> None:
    runtime = StubRuntime()
    context = _context(runtime)
    older = states.sandbox(states.vm_up())
    newer = states.sandbox(states.running())
    sent = SentViews(context)
    sent.record(older)
    primary = Primary()
    stream = lifecycle_changes(context, primary, sent, include_current=True)
    async with contextlib.aclosing(stream):
        await primary.queue.put(SandboxChange(ChangeType.MODIFIED, newer))
        change = await _next(stream)
        assert change.sandbox is newer
        sent.record(newer)
        # Events arrive that would have moved the older snapshot, not the one sent last.
        runtime.events.set(older.name, states.SCHEDULED, states.PULLING, states.PULLED)
        await asyncio.sleep(0.4)  # past the settle time
        notice = SandboxChange(ChangeType.EXPIRING, newer)
        await runtime.notices.put(notice)
        following = await _next(stream)
        # Whatever came from the events concerns the newest snapshot only.
        while following is not notice:
            assert following.sandbox is newer
            following = await _next(stream)


async def test_expiring_notices_are_interleaved_and_the_stream_ends_with_the_subscription() -> None:
    runtime = StubRuntime()
    context = _context(runtime)
    sandbox = states.sandbox(states.running())
    primary = Primary()
    stream = lifecycle_changes(context, primary, SentViews(context), include_current=True)
    async with contextlib.aclosing(stream):
        await runtime.notices.put(SandboxChange(ChangeType.EXPIRING, sandbox))
        assert (await _next(stream)).type is ChangeType.EXPIRING
        await primary.queue.put(SandboxChange(ChangeType.DELETED, sandbox))
        assert (await _next(stream)).type is ChangeType.DELETED
        await primary.queue.put(None)
        async with asyncio.timeout(5):
            assert [change async for change in stream] == []


async def test_without_a_runtime_only_the_subscription_is_followed() -> None:
    context = _context(None)
    sandbox = states.sandbox(states.running())
    primary = Primary()
    await primary.queue.put(SandboxChange(ChangeType.ADDED, sandbox))
    await primary.queue.put(None)
    stream = lifecycle_changes(context, primary, SentViews(context), include_current=False)
    async with asyncio.timeout(5):
        assert [c.type async for c in stream] == [ChangeType.ADDED]
    assert phase_of(context, sandbox) is BootPhase.READY


def test_deletion_reasons_on_changes() -> None:
    running = states.sandbox(states.running())
    reaped = states.sandbox(states.terminating(states.running(), reason="EXPIRED"))
    deleted_by_user = states.sandbox(states.terminating(states.running()))

    def reason(change: GraphQLSandboxChange) -> GraphQLDeletionReason | None:
        return change.reason

    assert reason(GraphQLSandboxChange.of(ChangeType.MODIFIED, running)) is None
    assert reason(GraphQLSandboxChange.of(ChangeType.DELETED, running)) is (
        GraphQLDeletionReason.USER
    )
    assert reason(GraphQLSandboxChange.of(ChangeType.DELETED, reaped)) is (
        GraphQLDeletionReason.EXPIRED
    )
    assert reason(GraphQLSandboxChange.of(ChangeType.MODIFIED, deleted_by_user)) is (
        GraphQLDeletionReason.USER
    )
    # It only left a subscription's filter: no deletion, no reason.
    left = GraphQLSandboxChange.of(ChangeType.DELETED, running, deleted=False)
    assert left.type is GraphQLChangeType.DELETED
    assert left.reason is None
    assert GraphQLSandboxChange.of(ChangeType.EXPIRING, reaped).reason is None
