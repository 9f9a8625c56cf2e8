"""One list+watch of this service's pods per process, a local store, and fan-out to subscribers.

How the Kubernetes watch protocol is followed:

- **List, then watch from the list's resourceVersion.** The list is the truth at one revision; the
  watch then delivers every change after it, in order, so the store never misses one.
- **Bookmarks** (``allowWatchBookmarks``) carry a newer resourceVersion without an object change,
  so after a quiet hour a re-watch resumes from a recent revision instead of an expired one.
- **A watch ends** when its ``timeoutSeconds`` run out (jittered, so replicas do not re-watch in
  lock-step) or the connection drops (an apiserver restart). It resumes from the last
  resourceVersion seen; nothing between is lost, because etcd keeps the history.
- **410 Gone** means that history was compacted away (or the apiserver's watch cache no longer
  reaches back that far). Only a fresh list can tell the truth then: the store is replaced by the
  list, and every pod that vanished in the gap is announced as a synthetic DELETED carrying its
  last known state, so no consumer waits forever for a pod that no longer exists.
- Other errors back off with full jitter (capped), then resume.

Consumers subscribe to changes through bounded queues. A subscriber that falls more than
``queue_size`` changes behind is cut off: it receives what was queued, then
:class:`SubscriberOverflow`; everyone else carries on undelayed. (The apiserver treats slow
watchers the same way.) It re-subscribes and reads the store to catch up.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any

from app.kube.convert import MalformedObjectError, sandbox_from_pod
from app.kube.list_watch import ListWatchLoop
from app.kube.pods import PodRepository
from app.kube.watch import WatchEvent
from app.models import ChangeType, Sandbox, SandboxChange, Unavailable

log = logging.getLogger(__name__)

Converter = Callable[[Mapping[str, Any]], Sandbox]
OrderKey = tuple[datetime, str]


def order_key(sandbox: Sandbox) -> OrderKey:
    """The stable order of every listing: creation time, then name."""
    return (sandbox.created_at, sandbox.name)


class SubscriberOverflow(Unavailable):
    """The subscriber fell too far behind and was cut off."""


class Subscription:
    """A bounded queue of changes for one consumer; iterate it, close it when done."""

    def __init__(self, informer: PodInformer, maxsize: int) -> None:
        self._informer = informer
        self._maxsize = maxsize
        self._queue: asyncio.Queue[SandboxChange | None] = asyncio.Queue()
        self.overflowed = False
        self.closed = False

    def offer(self, change: SandboxChange) -> None:
        if self.closed or self.overflowed:
            return
        if self._queue.qsize() >= self._maxsize:
            self.overflowed = True
            self._informer.unsubscribe(self)
            self._queue.put_nowait(None)
            return
        self._queue.put_nowait(change)

    def end(self) -> None:
        """Let the consumer finish: it reads what is queued, then the iteration stops."""
        if not self.closed:
            self.closed = True
            self._queue.put_nowait(None)

    def close(self) -> None:
        self._informer.unsubscribe(self)
        self.closed = True

    @property
    def pending(self) -> int:
        return self._queue.qsize()

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> SandboxChange:
        change = await self._queue.get()
        if change is None:
            if self.overflowed:
                raise SubscriberOverflow(
                    "this subscription fell behind the stream of changes and was ended; "
                    "subscribe again (with includeExisting) to catch up"
                )
            raise StopAsyncIteration
        return change

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()


class PodInformer(ListWatchLoop):
    def __init__(
        self,
        repository: PodRepository,
        *,
        convert: Converter = sandbox_from_pod,
        watch_timeout_seconds: int = 300,
        max_backoff_seconds: float = 30.0,
        queue_size: int = 1024,
    ) -> None:
        super().__init__(
            what="pod",
            watch_timeout_seconds=watch_timeout_seconds,
            max_backoff_seconds=max_backoff_seconds,
        )
        self.repository = repository
        self.convert = convert
        self.queue_size = queue_size
        self.store: dict[str, Sandbox] = {}
        # The store's keys in order_key order, kept sorted on every change so a page is a
        # bisect and a slice, never a sort of the whole store.
        self._order: list[OrderKey] = []
        self.version = 0
        # For metrics: watch events by type (BOOKMARK included) and when the last event, bookmark
        # or list arrived (time.monotonic()); observers see every change, synchronously.
        self.events: Counter[str] = Counter()
        self.last_event_at: float | None = None
        self.observers: list[Callable[[SandboxChange], None]] = []
        self._subscribers: set[Subscription] = set()

    # -- reading ---------------------------------------------------------------------------

    def get(self, name: str) -> Sandbox | None:
        return self.store.get(name)

    def sandboxes(self) -> list[Sandbox]:
        return list(self.store.values())

    def ordered(self, *, after: OrderKey | None = None) -> Iterator[Sandbox]:
        """The sandboxes in order_key order, starting after ``after``.

        Consume it without awaiting in between: the store may change at any await.
        """
        start = bisect.bisect_right(self._order, after) if after is not None else 0
        for index in range(start, len(self._order)):
            yield self.store[self._order[index][1]]

    def subscribe(self, *, maxsize: int | None = None) -> Subscription:
        subscription = Subscription(self, maxsize or self.queue_size)
        self._subscribers.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscribers.discard(subscription)

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    # -- running ---------------------------------------------------------------------------

    async def stop(self) -> None:
        await super().stop()
        for subscription in list(self._subscribers):
            subscription.end()
        self._subscribers.clear()

    def _watch(self, *, timeout_seconds: int) -> AsyncIterator[WatchEvent]:
        return self.repository.watch(
            resource_version=self.resource_version, timeout_seconds=timeout_seconds
        )

    async def _relist(self) -> None:
        items, resource_version = await self.repository.list_raw()
        fresh: dict[str, Sandbox] = {}
        for item in items:
            sandbox = self._convert(item)
            if sandbox is not None:
                fresh[sandbox.name] = sandbox
        previous = self.store
        self.store = dict(previous)
        self.resource_version = resource_version
        changes: list[SandboxChange] = []
        for name, old in previous.items():
            if name not in fresh:
                del self.store[name]
                changes.append(SandboxChange(ChangeType.DELETED, old))
        for name, sandbox in fresh.items():
            known = previous.get(name)
            if known is None:
                changes.append(SandboxChange(ChangeType.ADDED, sandbox))
            elif known.resource_version != sandbox.resource_version:
                changes.append(SandboxChange(ChangeType.MODIFIED, sandbox))
            self.store[name] = sandbox
        self._order = sorted(order_key(sandbox) for sandbox in self.store.values())
        self.last_event_at = time.monotonic()
        self._publish(changes)
        self._mark_synced()

    def _apply(self, kind: str, obj: Mapping[str, Any]) -> None:
        self.events[kind] += 1
        self.last_event_at = time.monotonic()
        self._track_resource_version(obj)
        if kind == "BOOKMARK":
            return
        sandbox = self._convert(obj)
        if sandbox is None:
            return
        old = self.store.get(sandbox.name)
        if kind == "DELETED":
            self._remove(sandbox.name)
            self._publish([SandboxChange(ChangeType.DELETED, sandbox)])
            return
        if old is not None and old.resource_version == sandbox.resource_version:
            return
        self._put(sandbox, old)
        change = ChangeType.ADDED if old is None else ChangeType.MODIFIED
        self._publish([SandboxChange(change, sandbox)])

    def _put(self, sandbox: Sandbox, old: Sandbox | None) -> None:
        key = order_key(sandbox)
        if old is None or order_key(old) != key:
            if old is not None:
                self._unindex(order_key(old))
            bisect.insort(self._order, key)
        self.store[sandbox.name] = sandbox

    def _remove(self, name: str) -> None:
        old = self.store.pop(name, None)
        if old is not None:
            self._unindex(order_key(old))

    def _unindex(self, key: OrderKey) -> None:
        index = bisect.bisect_left(self._order, key)
        if index < len(self._order) and self._order[index] == key:
            del self._order[index]

    def _convert(self, obj: Mapping[str, Any]) -> Sandbox | None:
        try:
            return self.convert(obj)
        except MalformedObjectError:
            log.warning("skipping a malformed pod object in the watch", exc_info=True)
            return None

    def _publish(self, changes: Iterable[SandboxChange]) -> None:
        published = False
        for change in changes:
            published = True
            self.version += 1
            for observe in self.observers:
                observe(change)
            for subscription in list(self._subscribers):
                subscription.offer(change)
        if published:
            self._notify_changed()

    async def changes(self, *, maxsize: int | None = None) -> AsyncIterator[SandboxChange]:
        """Iterate changes from now on; the subscription is released when iteration stops."""
        subscription = self.subscribe(maxsize=maxsize)
        try:
            async for change in subscription:
                yield change
        finally:
            subscription.close()
