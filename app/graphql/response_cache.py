"""Answers to repeated identical queries, served from memory while nothing they read has changed.

A dashboard polls the same query every few seconds; executing it again costs GraphQL ~20 µs a
field (a page of 50 sandboxes is ~1,000 fields, ~25 ms), while what it reads, the informer's
stores, usually has not moved. So a successful answer is kept, keyed on

- the request body exactly as sent (the document, the variables, the operation name),
- the ``Accept`` header (what representation was asked for),
- the caller (the authenticated :class:`~app.auth.Principal`, token included: two callers never
  share an entry, even of one tenant),

and stamped with the **store version** it was computed at: the pod informer's change counter and
the event informer's (boot phases and diagnoses come from events). An entry is served only while
both counters are unchanged, so the first request after any change executes again; an answer
whose execution saw a change is not kept at all.

Only what reads nothing but those stores is cached: queries whose root fields are ``sandbox`` or
``sandboxes`` and whose every selected field is plain data, or one of the fields derived from
the stores alone (``bootPhase``, ``timeline``, ``diagnosis``). Anything else with a resolver of
its own (``events`` and ``logs`` read the apiserver, ``capacity`` the nodes) makes the document
uncacheable; so do mutations, subscriptions and documents that do not parse. Answers with
``errors``, other statuses than 200 and bodies over ``MAX_ENTRY_BYTES`` are not kept.

The caller is authenticated on every request before the cache is consulted (``app.graphql.view``),
so a revoked token is refused even if an answer for it is still held. Identical requests that
arrive together while no answer is held wait for the first one's execution (single flight)
instead of all executing. An answer from memory is counted in ``kata_graphql_operations_total``
and the duration histogram like an executed one. Memory is bounded by ``MAX_ENTRIES`` and
``MAX_TOTAL_BYTES``, least recently used first out; entries of an older version are dropped when
next looked up.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from graphql import (
    DocumentNode,
    FieldNode,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    TypeInfo,
    TypeInfoVisitor,
    Visitor,
    get_named_type,
    parse,
    visit,
)
from starlette.types import Message, Receive, Scope, Send
from strawberry import Schema
from strawberry.schema.base import BaseSchema

from app.auth import Principal
from app.graphql.context import PRINCIPAL_STATE_KEY, Backend
from app.observability.context import CURRENT

MAX_ENTRIES = 512
MAX_ENTRY_BYTES = 2 * 1024 * 1024
MAX_TOTAL_BYTES = 64 * 1024 * 1024
MAX_DOCUMENTS = 512
ROOT_FIELDS = frozenset({"sandbox", "sandboxes", "__typename"})
# Fields with resolvers that read only the pod and event stores (versioned below).
DERIVED_FIELDS = frozenset(
    {("Sandbox", "bootPhase"), ("Sandbox", "timeline"), ("Sandbox", "diagnosis")}
)

Version = tuple[int, int]
Key = tuple[bytes, bytes, Principal]
CallNext = Callable[[Receive, Send], Awaitable[None]]


def store_version(backend: Backend) -> Version:
    """What every cacheable answer is computed from: pod changes and event changes so far."""
    lifecycle = backend.lifecycle
    return (backend.informer.version, lifecycle.events.version if lifecycle is not None else -1)


class _Uncacheable(Exception):
    pass


class _FieldCheck(Visitor):
    def __init__(self, type_info: TypeInfo, query_type: object) -> None:
        super().__init__()
        self.type_info = type_info
        self.query_type = query_type

    def enter_operation_definition(self, node: OperationDefinitionNode, *_: object) -> None:
        if node.operation is not OperationType.QUERY:
            raise _Uncacheable

    def enter_field(self, node: FieldNode, *_: object) -> None:
        parent = self.type_info.get_parent_type()
        definition = self.type_info.get_field_def()
        if parent is None or definition is None:
            raise _Uncacheable  # not in the schema: execution answers with errors anyway
        name = node.name.value
        if name == "__typename":
            return
        if parent is self.query_type:
            if name not in ROOT_FIELDS:
                raise _Uncacheable
            return
        if name.startswith("__"):
            raise _Uncacheable
        strawberry_field = definition.extensions.get("strawberry-definition")
        resolver = getattr(strawberry_field, "base_resolver", None)
        if resolver is not None and (get_named_type(parent).name, name) not in DERIVED_FIELDS:
            raise _Uncacheable


def is_cacheable(schema: GraphQLSchema, document: DocumentNode) -> bool:
    """Whether every operation in ``document`` is a query reading only the versioned stores."""
    type_info = TypeInfo(schema)
    check = _FieldCheck(type_info, schema.query_type)
    try:
        visit(document, TypeInfoVisitor(type_info, check))
    except _Uncacheable:
        return False
    return True


@dataclass(frozen=True, slots=True)
class Entry:
    version: Version
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes
    # For the metrics: the request's operationName and the document's root fields.
    operation_name: str | None = None
    root_fields: tuple[str, ...] = ()


def _count_hit(entry: Entry, seconds: float) -> None:
    observability = CURRENT.get()
    if observability is None:
        return
    metrics = observability.metrics
    label = metrics.operation_label(entry.operation_name, entry.root_fields)
    metrics.operations.labels("query", label).inc()
    metrics.operation_duration.labels("query").observe(seconds)


def _root_fields(document: DocumentNode) -> tuple[str, ...]:
    return tuple(
        selection.name.value
        for definition in document.definitions
        if isinstance(definition, OperationDefinitionNode)
        for selection in definition.selection_set.selections
        if isinstance(selection, FieldNode)
    )


def _header(scope: Scope, name: bytes) -> bytes:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value)
    return b""


class ResponseCache:
    def __init__(self, schema: GraphQLSchema) -> None:
        self.schema = schema
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[Key, Entry] = OrderedDict()
        self._bytes = 0
        # Document text -> its root fields if cacheable, else None.
        self._documents: OrderedDict[str, tuple[str, ...] | None] = OrderedDict()
        self._inflight: dict[Key, tuple[Version, asyncio.Future[Entry | None]]] = {}

    @classmethod
    def of(cls, schema: BaseSchema) -> ResponseCache | None:
        """A cache for strawberry's ``schema``; None for a schema it cannot analyse."""
        return cls(schema._schema) if isinstance(schema, Schema) else None

    def __len__(self) -> int:
        return len(self._entries)

    # -- what may be cached ------------------------------------------------------------------

    def cacheable_body(self, body: bytes) -> tuple[str | None, tuple[str, ...]] | None:
        """(operationName, root fields) of a cacheable request; None for any other."""
        try:
            request = json.loads(body)
        except ValueError:
            return None
        query = request.get("query") if isinstance(request, dict) else None
        if not isinstance(query, str):
            return None
        name = request.get("operationName")
        name = name if isinstance(name, str) else None
        if query in self._documents:
            self._documents.move_to_end(query)
            fields = self._documents[query]
            return None if fields is None else (name, fields)
        try:
            document = parse(query, no_location=True)
            fields = _root_fields(document) if is_cacheable(self.schema, document) else None
        except GraphQLError:
            fields = None
        self._documents[query] = fields
        if len(self._documents) > MAX_DOCUMENTS:
            self._documents.popitem(last=False)
        return None if fields is None else (name, fields)

    # -- entries -----------------------------------------------------------------------------

    def lookup(self, key: Key, version: Version) -> Entry | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.version != version:
            self._drop(key)
            return None
        self._entries.move_to_end(key)
        return entry

    def store(self, key: Key, entry: Entry) -> None:
        if len(entry.body) > MAX_ENTRY_BYTES:
            return
        if key in self._entries:
            self._drop(key)
        self._entries[key] = entry
        self._bytes += len(entry.body)
        while len(self._entries) > MAX_ENTRIES or self._bytes > MAX_TOTAL_BYTES:
            self._drop(next(iter(self._entries)))

    def _drop(self, key: Key) -> None:
        entry = self._entries.pop(key)
        self._bytes -= len(entry.body)

    # -- serving -----------------------------------------------------------------------------

    async def serve(
        self,
        scope: Scope,
        body_messages: list[Message],
        send: Send,
        backend: Backend | None,
        call_next: CallNext,
        receive: Receive,
    ) -> None:
        """Answer from memory, or through ``call_next`` (keeping the answer when it may)."""
        principal = (scope.get("state") or {}).get(PRINCIPAL_STATE_KEY)
        if (
            backend is None
            or scope.get("method") != "POST"
            or not isinstance(principal, Principal)
            or not _header(scope, b"content-type").startswith(b"application/json")
        ):
            await call_next(receive, send)
            return
        started = time.perf_counter()
        body = b"".join(m.get("body", b"") for m in body_messages if m["type"] == "http.request")
        key: Key = (body, _header(scope, b"accept"), principal)
        version = store_version(backend)
        entry = self.lookup(key, version)
        if entry is None and key in self._inflight:
            flight_version, flight = self._inflight[key]
            if flight_version == version:
                entry = await asyncio.shield(flight)
                if entry is not None and entry.version != store_version(backend):
                    entry = None
        if entry is not None:
            self.hits += 1
            await _send_entry(entry, send)
            _count_hit(entry, time.perf_counter() - started)
            return
        described = self.cacheable_body(body)
        if described is None:
            await call_next(receive, send)
            return
        self.misses += 1
        await self._execute(key, version, backend, call_next, receive, send, described)

    async def _execute(
        self,
        key: Key,
        version: Version,
        backend: Backend,
        call_next: CallNext,
        receive: Receive,
        send: Send,
        described: tuple[str | None, tuple[str, ...]],
    ) -> None:
        leader = key not in self._inflight
        flight: asyncio.Future[Entry | None] = asyncio.get_running_loop().create_future()
        if leader:
            self._inflight[key] = (version, flight)
        start: Message = {}
        parts: list[bytes] = []

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                parts.append(message.get("body", b""))
            await send(message)

        entry: Entry | None = None
        try:
            await call_next(receive, capture)
            body = b"".join(parts)
            if (
                start.get("status") == 200
                and b'"errors"' not in body
                and store_version(backend) == version
            ):
                headers = list(start.get("headers") or ())
                entry = Entry(version, 200, headers, body, described[0], described[1])
                self.store(key, entry)
        finally:
            if leader:
                self._inflight.pop(key, None)
                flight.set_result(entry)


async def _send_entry(entry: Entry, send: Send) -> None:
    await send({"type": "http.response.start", "status": entry.status, "headers": entry.headers})
    await send({"type": "http.response.body", "body": entry.body})
