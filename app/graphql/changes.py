"""What a subscription sends beyond the informer's pod changes (issue 5).

- EXPIRING notices, ``Lifecycle.ExpiringNoticeSeconds`` before a sandbox's TTL runs out
  (``LifecycleRuntime.expiring_notices``; the pod itself does not change then);
- a MODIFIED when a sandbox's boot phase or diagnosis moved with its *events* alone (a
  ``Pulled`` event, a ``FailedScheduling`` retry): the pod did not change, but what a client
  shows did.

:class:`SentViews` remembers what one subscription sent of each sandbox: the pod snapshot and
its :func:`~app.graphql.lifecycle.view_key`. :func:`lifecycle_changes` merges the informer
subscription with the notices and, when pod events arrived, re-offers the snapshots last sent
whose view changed: a client never sees a sandbox's pod state go backwards, since only what was
already sent is re-offered. It ends when the informer subscription ends.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator
from datetime import UTC, datetime

from app.graphql.context import GraphQLContext
from app.graphql.lifecycle import view_key
from app.models import ChangeType, Sandbox, SandboxChange, SandboxPhase
from app.sandboxes.expiry import merge_changes
from app.sandboxes.runtime import LifecycleRuntime

# Events come in bursts (Pulling, Pulled, Created, Started within a second): look once per burst.
EVENTS_SETTLE_SECONDS = 0.2

ViewKey = tuple[str, str, str | None]

# Marks "pod events changed" inside the merged stream; never leaves this module.
_EVENTS_TICK = SandboxChange(
    ChangeType.MODIFIED,
    Sandbox("", "", "", SandboxPhase.UNKNOWN, datetime(1970, 1, 1, tzinfo=UTC)),
)


class _PrimaryEnded(Exception):
    """The informer subscription ended: the merged stream ends with it."""


class SentViews:
    """The last state one subscription sent of each sandbox, by name."""

    def __init__(self, context: GraphQLContext) -> None:
        self._context = context
        self._sent: dict[str, tuple[Sandbox, ViewKey]] = {}

    def __contains__(self, name: object) -> bool:
        return name in self._sent

    def is_news(self, sandbox: Sandbox) -> bool:
        """Whether sending ``sandbox`` would tell the subscriber anything new."""
        sent = self._sent.get(sandbox.name)
        return sent is None or sent[1] != view_key(self._context, sandbox)

    def record(self, sandbox: Sandbox) -> None:
        self._sent[sandbox.name] = (sandbox, view_key(self._context, sandbox))

    def forget(self, name: str) -> None:
        self._sent.pop(name, None)

    def outdated(self) -> list[Sandbox]:
        """The snapshots sent whose boot phase or diagnosis has moved since (events only)."""
        return [
            sandbox
            for sandbox, key in self._sent.values()
            if key != view_key(self._context, sandbox)
        ]


async def _until_ended(primary: AsyncIterator[SandboxChange]) -> AsyncGenerator[SandboxChange]:
    async for change in primary:
        yield change
    raise _PrimaryEnded


async def _event_ticks(runtime: LifecycleRuntime) -> AsyncGenerator[SandboxChange]:
    """A tick at once (events may have come since the snapshots were sent), then one per
    burst of event changes. The version is read right after each tick is queued, before the
    consumer can act on it, so no change falls between two ticks."""
    events = runtime.events
    while True:
        yield _EVENTS_TICK
        seen = events.version
        await events.wait_until(lambda: events.version != seen, timeout=None)  # noqa: B023
        await asyncio.sleep(EVENTS_SETTLE_SECONDS)


async def lifecycle_changes(
    context: GraphQLContext,
    subscription: AsyncIterator[SandboxChange],
    sent: SentViews,
    *,
    include_current: bool,
) -> AsyncGenerator[SandboxChange]:
    """The informer ``subscription``'s changes with EXPIRING notices and event-driven MODIFIED
    changes (of snapshots in ``sent``) interleaved; ends when ``subscription`` ends.

    ``include_current``: announce at once the sandboxes already within the notice's lead time.
    """
    runtime = context.lifecycle
    if runtime is None:
        async for change in subscription:
            yield change
        return
    sources = (
        _until_ended(subscription),
        runtime.expiring_notices(include_current=include_current),
        _event_ticks(runtime),
    )
    try:
        async with contextlib.aclosing(merge_changes(*sources)) as merged:
            async for change in merged:
                if change is not _EVENTS_TICK:
                    yield change
                    continue
                for sandbox in sent.outdated():
                    yield SandboxChange(ChangeType.MODIFIED, sandbox)
    except _PrimaryEnded:
        return
