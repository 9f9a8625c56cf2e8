"""Identical ``sandboxChanges`` subscriptions share one execution (``graphql-transport-ws``).

A thousand dashboards watching the same sandboxes would each run the subscription: each
informer change would be matched, executed against the selection and serialised a thousand
times. Here subscriptions with the same document, variables, operation name and caller (the
authenticated :class:`~app.auth.Principal`) form a *group*: the first one's operation starts one
execution (the *source*, the same resolver as ever, through ``schema.stream``), each result is
serialised once, and the same payload text is sent to every member, each under its own
operation id.

What is shared is exactly what a member would have received alone. A ``sandboxChanges`` without
``includeExisting`` sends, from the moment it starts, the changes to the set of sandboxes that
match: a member that joins a running source receives the changes from then on, as a
subscription of its own started then would (its ADDED/MODIFIED/DELETED follow from the same
matching set, which the source keeps current). Subscriptions that begin with a snapshot of their
own (``includeExisting: true``, ``sandboxUpdates``, ``sandboxLogs``), documents that do not have
a single ``sandboxChanges`` root field, and connections without an authenticated caller run as
before, one execution each.

Every member holds one of its tenant's subscription slots (``Server.MaxSubscriptionsPerTenant``),
as a subscription of its own would: the source holds one (the resolver takes it) and every
further member takes one when it joins; a member that cannot get one runs alone, where the
resolver refuses it as usual. A member whose client reads too slowly falls ``MEMBER_QUEUE``
results behind and is cut off (UNAVAILABLE, then ``complete``), like a slow informer
subscriber; the others carry on. The source's end (its informer subscription cut off, the
server shutting down) ends every member with the same final results and ``complete``. When the
last member leaves, the source is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import logging
import weakref
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    BooleanValueNode,
    FieldNode,
    GraphQLError,
    NullValueNode,
    OperationDefinitionNode,
    OperationType,
    VariableNode,
    parse,
)
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)
from strawberry.types.execution import ExecutionResult, PreExecutionError
from strawberry.utils.aio import aclosing

from app.auth import Principal
from app.graphql.context import GraphQLContext
from app.models import SandboxError, Unavailable

log = logging.getLogger(__name__)

SHARED_FIELD = "sandboxChanges"
# Results a member may fall behind before it is cut off (the informer's subscriber bound).
MEMBER_QUEUE = 1024
MAX_DOCUMENTS = 256

_END = object()


@dataclass(frozen=True, slots=True)
class StreamKey:
    query: str
    variables: str
    operation_name: str | None
    principal: Principal


@dataclass(frozen=True, slots=True)
class _Shape:
    """A shareable document; ``variable`` names includeExisting's variable, if it has one
    (then only variables that leave it false share)."""

    variable: str | None = None


def _include_existing(field_node: FieldNode) -> object:
    for argument in field_node.arguments or ():
        if argument.name.value == "includeExisting":
            return argument.value
    return None


def _shape(query: str, operation_name: str | None) -> _Shape | None:
    """None unless the document is one ``sandboxChanges`` subscription without a snapshot."""
    try:
        document = parse(query, no_location=True)
    except GraphQLError:
        return None
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is not None:
        operations = [o for o in operations if o.name and o.name.value == operation_name]
    if len(operations) != 1 or operations[0].operation is not OperationType.SUBSCRIPTION:
        return None
    operation = operations[0]
    selections = operation.selection_set.selections
    if len(selections) != 1 or not isinstance(selections[0], FieldNode):
        return None
    root = selections[0]
    if root.name.value != SHARED_FIELD or root.directives:
        return None
    value = _include_existing(root)
    if value is None or isinstance(value, NullValueNode):
        return _Shape()
    if isinstance(value, BooleanValueNode):
        return None if value.value else _Shape()
    if isinstance(value, VariableNode):
        name = value.name.value
        for definition in operation.variable_definitions or ():
            if definition.variable.name.value == name and definition.default_value is not None:
                default = definition.default_value
                if not isinstance(default, BooleanValueNode | NullValueNode) or (
                    isinstance(default, BooleanValueNode) and default.value
                ):
                    return None
        return _Shape(name)
    return None


class _Member:
    def __init__(self, handler: FanoutTransportWSHandler, operation: Operation[Any, Any]) -> None:
        self.handler = handler
        self.operation = operation
        self.queue: asyncio.Queue[object] = asyncio.Queue()
        self.cut_off = False
        self.prefix = '{"id":' + json.dumps(operation.id) + ',"type":"next","payload":'

    def offer(self, item: object) -> None:
        if self.cut_off:
            return
        if self.queue.qsize() >= MEMBER_QUEUE:
            self.cut_off = True
            overflow = Unavailable(
                "this subscription fell behind the stream of changes and was ended; "
                "subscribe again (with includeExisting) to catch up"
            )
            error = {"message": overflow.message, "extensions": overflow.extensions()}
            self.queue.put_nowait(json.dumps({"data": None, "errors": [error]}))
            self.queue.put_nowait(_END)
            return
        self.queue.put_nowait(item)

    async def run(self) -> None:
        operation = self.operation
        while True:
            item = await self.queue.get()
            if operation.completed:
                return
            if item is _END:
                await operation.send_operation_message({"id": operation.id, "type": "complete"})
                return
            if isinstance(item, list):
                await operation.send_initial_errors(item)
                return
            await self.handler.send_text(self.prefix + str(item) + "}")


@dataclass
class _Group:
    key: StreamKey
    members: set[_Member] = field(default_factory=set)
    # Slots of the tenant held for members beyond the first (the source holds the first's).
    slots: list[contextlib.AbstractContextManager[None]] = field(default_factory=list)
    task: asyncio.Task[None] | None = None
    ended: bool = False

    def broadcast(self, item: object) -> None:
        for member in list(self.members):
            member.offer(item)


class FanoutHub:
    """The groups of one GraphQL view."""

    def __init__(self) -> None:
        self.groups: dict[StreamKey, _Group] = {}
        self._shapes: OrderedDict[tuple[str, str | None], _Shape | None] = OrderedDict()

    def key(self, operation: Operation[Any, Any], context: object) -> StreamKey | None:
        principal = getattr(context, "authenticated", None)
        if not isinstance(principal, Principal):
            return None
        cache_key = (operation.query, operation.operation_name)
        if cache_key in self._shapes:
            shape = self._shapes[cache_key]
            self._shapes.move_to_end(cache_key)
        else:
            shape = self._shapes[cache_key] = _shape(operation.query, operation.operation_name)
            if len(self._shapes) > MAX_DOCUMENTS:
                self._shapes.popitem(last=False)
        if shape is None:
            return None
        variables = operation.variables or {}
        if shape.variable is not None and variables.get(shape.variable):
            return None
        try:
            canonical = json.dumps(variables, sort_keys=True, separators=(",", ":"))
        except (TypeError, ValueError):
            return None
        return StreamKey(operation.query, canonical, operation.operation_name, principal)

    async def serve(
        self, handler: FanoutTransportWSHandler, operation: Operation[Any, Any], key: StreamKey
    ) -> bool:
        """Run ``operation`` as a member of its group; False if it must run alone instead."""
        while True:
            group = self.groups.get(key)
            if group is None or group.ended:
                group = _Group(key)
                self.groups[key] = group
                break
            if not await self._take_slot(handler, group):
                return False
            if not group.ended:
                break
            group.slots.pop().__exit__(None, None, None)  # it ended meanwhile: start anew
        member = _Member(handler, operation)
        group.members.add(member)
        if group.task is None:
            group.task = asyncio.create_task(
                self._source(handler, operation, group), name="graphql-shared-subscription"
            )
        _count_active(+1, first=len(group.members) == 1)
        try:
            await member.run()
        finally:
            group.members.discard(member)
            _count_active(-1, first=not group.members)
            await self._leave(group)
        return True

    async def _take_slot(self, handler: FanoutTransportWSHandler, group: _Group) -> bool:
        context = handler.context
        if not isinstance(context, GraphQLContext):
            return False
        try:
            slot = (await context.service()).subscription()
            slot.__enter__()
        except SandboxError:
            return False
        group.slots.append(slot)
        return True

    async def _leave(self, group: _Group) -> None:
        if group.members:
            if group.slots:
                group.slots.pop().__exit__(None, None, None)
            return
        while group.slots:
            group.slots.pop().__exit__(None, None, None)
        if self.groups.get(group.key) is group:
            del self.groups[group.key]
        group.ended = True
        task = group.task
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _source(
        self, handler: FanoutTransportWSHandler, operation: Operation[Any, Any], group: _Group
    ) -> None:
        # The source outlives the member that started it: it gets a context of its own.
        context = copy.copy(handler.context)
        try:
            stream = await handler.schema.stream(
                operation.query,
                variable_values=operation.variables,
                context_value=context,
                root_value=handler.root_value,
                operation_name=operation.operation_name,
            )
            async with aclosing(stream):
                first = True
                async for result in stream:
                    if first and isinstance(result, PreExecutionError):
                        group.broadcast(list(result.errors or []))
                        return
                    first = False
                    if not isinstance(result, ExecutionResult):
                        error = GraphQLError(
                            "Incremental delivery is not supported over graphql-transport-ws"
                        )
                        group.broadcast([error])
                        return
                    group.broadcast(handler.encode_payload(result))
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("a shared subscription failed")
        finally:
            group.ended = True
            if self.groups.get(group.key) is group:
                del self.groups[group.key]
            group.broadcast(_END)


def _count_active(delta: int, *, first: bool) -> None:
    """Keep ``kata_graphql_active_subscriptions`` per client: the source counts the first."""
    if first:
        return
    try:
        from app.observability.context import CURRENT

        observability = CURRENT.get()
        if observability is not None:
            observability.metrics.active_subscriptions.labels(SHARED_FIELD).inc(delta)
    except (ImportError, AttributeError):
        pass


_hubs: weakref.WeakKeyDictionary[object, FanoutHub] = weakref.WeakKeyDictionary()


def hub_of(view: object) -> FanoutHub:
    hub = _hubs.get(view)
    if hub is None:
        hub = _hubs[view] = FanoutHub()
    return hub


class FanoutTransportWSHandler(BaseGraphQLTransportWSHandler[GraphQLContext, None]):
    """strawberry's ``graphql-transport-ws`` handler, with shareable subscriptions grouped."""

    async def run_operation(self, operation: Operation[GraphQLContext, None]) -> None:
        hub = hub_of(self.view)
        key = hub.key(operation, self.context)
        if key is not None and await hub.serve(self, operation, key):
            return
        await super().run_operation(operation)

    def encode_payload(self, result: ExecutionResult) -> str:
        payload: dict[str, object] = {"data": result.data}
        if result.errors:
            payload["errors"] = [error.formatted for error in result.errors]
        if result.extensions:
            payload["extensions"] = result.extensions
        encoded = self.view.encode_json(payload)
        return encoded.decode() if isinstance(encoded, bytes) else encoded

    async def send_text(self, text: str) -> None:
        websocket = self.websocket
        if isinstance(websocket, ASGIWebSocketAdapter):
            with contextlib.suppress(Exception):
                await websocket.ws.send_text(text)
            return
        message: Mapping[str, Any] = json.loads(text)
        await websocket.send_json(message)
