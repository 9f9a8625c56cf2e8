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

The source stays driven by strawberry's operation task, so it is released exactly as when the
client stops it; while it waits for the next change, the drain interrupts it by cancelling that
task, and takes that one cancellation back to send the final result.
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


@dataclass(slots=True, eq=False)  # compared and hashed by identity, in a set
class _Stream:
    """One websocket operation's stream, as the drain sees it."""

    task: asyncio.Task[Any] | None
    subscription: bool
    waiting: bool = False  # awaiting the source's next item (else: between items)
    cancelled_by_drain: bool = False


class GracefulShutdown:
    def __init__(self, timeout: float = 25.0) -> None:
        self.timeout = timeout
        self.deadline: float | None = None  # time.monotonic() by which the process should exit
        self._stop = asyncio.Event()
        self._active: set[_Stream] = set()
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
        subscriptions = sum(1 for stream in self._active if stream.subscription)
        return subscriptions, len(self._active) - subscriptions

    def track(self, source: Stream, *, subscription: bool) -> Stream:
        return self._tracked(source, subscription)

    async def _tracked(self, source: Stream, subscription: bool) -> Stream:
        """``source``'s items; a subscription's end early, with the final result, on drain.

        The source stays driven by the task that iterates this (strawberry's operation task),
        so it is closed as it would be without this wrapper. The drain stops a subscription
        between two items, or by cancelling that task while it waits for the next one: that
        cancellation (its own, and no other) is taken back here.
        """
        stream = _Stream(asyncio.current_task(), subscription)
        self._active.add(stream)
        self._idle.clear()
        try:
            async with contextlib.aclosing(source):
                while not (subscription and self.stopping):
                    stream.waiting = True
                    try:
                        item = await anext(source)
                    except StopAsyncIteration:
                        return
                    except asyncio.CancelledError:
                        task = stream.task
                        if not stream.cancelled_by_drain or task is None or task.cancelling() > 1:
                            raise
                        task.uncancel()
                        break
                    finally:
                        stream.waiting = False
                    yield item
            yield shutting_down_result()
        finally:
            self._active.discard(stream)
            if not self._active:
                self._idle.set()

    def _interrupt(self) -> None:
        """Cancel the subscriptions waiting for their next item (see ``_tracked``)."""
        for stream in self._active:
            if stream.subscription and stream.waiting and stream.task is not None:
                stream.cancelled_by_drain = True
                stream.task.cancel("server shutting down")

    async def drain(self, timeout: float | None = None) -> DrainResult:
        """End every subscription with its final message and wait (up to ``timeout``, default
        what is left of the deadline) for websocket operations to finish."""
        self.begin()
        started = time.monotonic()
        subscriptions, other = self.active
        self._stop.set()
        self._interrupt()
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
