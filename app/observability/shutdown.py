"""Graceful shutdown of the GraphQL operations on websockets: a final message for every
subscription, and time for queries and mutations in flight to answer.

Why here and not in uvicorn: on SIGTERM uvicorn closes every websocket at once (1012), so a
subscriber would see its connection drop without knowing why, and a mutation sent over the
websocket would be cut off. So every stream the schema hands to a websocket handler passes
through :meth:`GracefulShutdown.track`, and :meth:`GracefulShutdown.drain`, run before uvicorn's
own shutdown (``app.observability.signals``), ends them properly:

- a subscription gets one last result, ``errors: [{message: "server shutting down; subscribe
  again ...", extensions: {code: UNAVAILABLE}}]``, then ``complete`` (strawberry sends it when the
  stream ends), in both websocket protocols; its source is closed first, so it releases its
  informer subscription and log stream;
- a subscription started while draining gets that final result at once;
- queries and mutations on websockets run to their end (bounded by the drain's timeout).

After the drain uvicorn closes the websockets with 1012 ("service restart"), which graphql-ws
clients retry, reaching another replica. HTTP requests are uvicorn's to finish.

A subscription runs its source in a task of its own (a "pump") so that the drain can stop it
while it waits for the next change, without cancelling strawberry's task.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any

from graphql import GraphQLError, GraphQLSyntaxError, parse
from strawberry.types import ExecutionResult

from app.graphql.limits import MAX_TOKENS
from app.models import Unavailable
from app.observability.operations import find_operation

log = logging.getLogger(__name__)

SHUTTING_DOWN_MESSAGE = "server shutting down; subscribe again (another replica will serve it)"

Stream = AsyncGenerator[Any, None]


def shutting_down_result() -> ExecutionResult:
    error = GraphQLError(SHUTTING_DOWN_MESSAGE, extensions={"code": Unavailable.code})
    return ExecutionResult(data=None, errors=[error])


def is_subscription(query: str | None, operation_name: str | None) -> bool:
    if not query:
        return False
    try:
        # The same token budget as the schema's own parse, so no document costs more here.
        document = parse(query, no_location=True, max_tokens=MAX_TOKENS)
    except GraphQLSyntaxError:
        return False  # strawberry answers the error itself
    operation = find_operation(document, operation_name)
    return operation is not None and operation.operation.value == "subscription"


@dataclass(frozen=True, slots=True)
class DrainResult:
    subscriptions: int
    other: int
    unfinished: int
    seconds: float


_END = object()
_STOPPED = object()


@dataclass(frozen=True, slots=True)
class _Failed:
    error: Exception


class GracefulShutdown:
    def __init__(self, timeout: float = 25.0) -> None:
        self.timeout = timeout
        self.deadline: float | None = None  # time.monotonic() by which the process should exit
        self._stop = asyncio.Event()
        self._active: dict[object, bool] = {}  # stream token -> is a subscription
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def begin(self) -> None:
        """Start the shutdown clock (idempotent): ``timeout`` from now."""
        if self.deadline is None:
            self.deadline = time.monotonic() + self.timeout

    def remaining(self) -> float:
        """Seconds left until the deadline (the whole timeout before :meth:`begin`)."""
        if self.deadline is None:
            return self.timeout
        return max(0.0, self.deadline - time.monotonic())

    @property
    def active(self) -> tuple[int, int]:
        """(subscriptions, other operations) running on websockets now."""
        subscriptions = sum(1 for kind in self._active.values() if kind)
        return subscriptions, len(self._active) - subscriptions

    def track(self, source: Stream, *, subscription: bool) -> Stream:
        return self._tracked(source, subscription)

    async def _tracked(self, source: Stream, subscription: bool) -> Stream:
        token = object()
        self._active[token] = subscription
        self._idle.clear()
        try:
            if not subscription:
                async with contextlib.aclosing(source):
                    async for item in source:
                        yield item
                return
            if self.stopping:
                await source.aclose()
                yield shutting_down_result()
                return
            async for item in self._until_stopped(source):
                yield shutting_down_result() if item is _STOPPED else item
        finally:
            del self._active[token]
            if not self._active:
                self._idle.set()

    async def _until_stopped(self, source: Stream) -> Stream:
        """The source's items until it ends, or until the drain starts: then the source is
        closed and ``_STOPPED`` is the last item."""
        queue: asyncio.Queue[object] = asyncio.Queue(maxsize=1)

        async def pump() -> None:
            try:
                async with contextlib.aclosing(source):
                    async for item in source:
                        await queue.put(item)
            except Exception as error:  # strawberry turns resolver errors into results
                await queue.put(_Failed(error))
                return
            await queue.put(_END)

        pump_task = asyncio.create_task(pump(), name="graphql-subscription-source")
        stopped = asyncio.create_task(self._stop.wait())
        getter: asyncio.Future[object] | None = None
        try:
            while not self.stopping:
                getter = asyncio.ensure_future(queue.get())
                await asyncio.wait({getter, stopped}, return_when=asyncio.FIRST_COMPLETED)
                if self.stopping or not getter.done():
                    break
                item = getter.result()
                if item is _END:
                    return
                if isinstance(item, _Failed):
                    raise item.error
                yield item
        finally:
            for task in (getter, stopped, pump_task):
                if task is not None:
                    task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pump_task
        yield _STOPPED

    async def drain(self, timeout: float | None = None) -> DrainResult:
        """End every subscription with its final message and wait (up to ``timeout``, default
        what is left of the deadline) for websocket operations to finish."""
        self.begin()
        started = time.monotonic()
        subscriptions, other = self.active
        self._stop.set()
        limit = self.remaining() if timeout is None else timeout
        try:
            async with asyncio.timeout(limit):
                await self._idle.wait()
        except TimeoutError:
            log.warning(
                "%d websocket operations still running after %.1fs of draining",
                len(self._active),
                limit,
            )
        # Let the handlers write the ``complete`` that follows each final result.
        await asyncio.sleep(0)
        return DrainResult(
            subscriptions=subscriptions,
            other=other,
            unfinished=len(self._active),
            seconds=time.monotonic() - started,
        )
