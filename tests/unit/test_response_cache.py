"""The response cache: what may be cached, and that an entry never outlives a change or crosses
from one caller to another."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any, cast

import pytest
from graphql import parse
from starlette.types import Message, Receive, Scope, Send

from app.auth import Principal, Role
from app.graphql.context import PRINCIPAL_STATE_KEY, Backend
from app.graphql.response_cache import ResponseCache, is_cacheable
from app.graphql.schema import schema

DASHBOARD = """{ sandboxes(first: 50) { totalCount pageInfo { hasNextPage }
  edges { node { name phase ready bootPhase labels { key value } createdAt
  resources { requests { memoryMi } } } } } }"""

ALICE = Principal("team-a", Role.USER, "alice", "a" * 64)
BOB = Principal("team-b", Role.USER, "bob", "b" * 64)
ALICE_VIEWER = Principal("team-a", Role.VIEWER, "alice-viewer", "c" * 64)


def cacheable(document: str) -> bool:
    return is_cacheable(schema._schema, parse(document))


@pytest.mark.parametrize(
    "document",
    [
        DASHBOARD,
        '{ sandbox(name: "x") { name phase timeline { phase at } diagnosis { reason } } }',
        "query Q($n: Int) { sandboxes(first: $n) { edges { cursor node { ...F } } } } "
        "fragment F on Sandbox { name __typename }",
        "{ __typename }",
    ],
)
def test_store_only_queries_are_cacheable(document: str) -> None:
    assert cacheable(document)


@pytest.mark.parametrize(
    "document",
    [
        '{ sandbox(name: "x") { name events { reason } } }',
        '{ sandbox(name: "x") { logs } }',
        "{ sandboxes { edges { node { ...F } } } } fragment F on Sandbox { name logs }",
        "{ capacity { __typename } }",
        "{ __schema { queryType { name } } }",
        '{ sandbox(name: "x") { noSuchField } }',
        'mutation { deleteSandbox(name: "x") { count } }',
        "subscription { sandboxChanges { type } }",
    ],
)
def test_anything_else_is_not(document: str) -> None:
    assert not cacheable(document)


# -- serving ------------------------------------------------------------------------------------


@dataclass
class Versioned:
    version: int = 0


@dataclass
class Lifecycle:
    events: Versioned = field(default_factory=Versioned)


@dataclass
class FakeBackend:
    informer: Versioned = field(default_factory=Versioned)
    lifecycle: Lifecycle = field(default_factory=Lifecycle)


class Server:
    """Stands in for strawberry: answers with a counter, optionally changing the store."""

    def __init__(self, backend: FakeBackend) -> None:
        self.backend = backend
        self.executions = 0
        self.status = 200
        self.errors = False
        self.change_during = False
        self.delay = 0.0

    async def __call__(self, receive: Receive, send: Send) -> None:
        self.executions += 1
        request = await receive()
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.change_during:
            self.backend.informer.version += 1
        answer: dict[str, Any] = {"data": {"n": self.executions}, "echo": len(request["body"])}
        if self.errors:
            answer["errors"] = [{"message": "no"}]
        body = json.dumps(answer).encode()
        headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": self.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


async def request(
    cache: ResponseCache,
    server: Server,
    principal: Principal | None = ALICE,
    document: str = DASHBOARD,
    variables: dict[str, Any] | None = None,
) -> bytes:
    body = json.dumps({"query": document, "variables": variables or {}}).encode()
    scope: Scope = {
        "type": "http",
        "method": "POST",
        "headers": [(b"content-type", b"application/json"), (b"accept", b"application/json")],
        "state": {PRINCIPAL_STATE_KEY: principal} if principal else {},
    }
    messages: list[Message] = [{"type": "http.request", "body": body, "more_body": False}]
    pending = list(messages)

    async def receive() -> Message:
        return pending.pop(0)

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    backend = cast(Backend, server.backend)
    await cache.serve(scope, messages, send, backend, server, receive)
    assert sent[0]["type"] == "http.response.start"
    return b"".join(m.get("body", b"") for m in sent[1:])


@pytest.fixture
def server() -> Server:
    return Server(FakeBackend())


@pytest.fixture
def cache() -> ResponseCache:
    made = ResponseCache.of(schema)
    assert made is not None
    return made


async def test_a_repeated_query_is_answered_from_memory(
    cache: ResponseCache, server: Server
) -> None:
    first = await request(cache, server)
    second = await request(cache, server)
    assert second == first
    assert server.executions == 1
    assert (cache.hits, cache.misses) == (1, 1)


async def test_a_pod_change_or_an_event_invalidates(cache: ResponseCache, server: Server) -> None:
    await request(cache, server)
    server.backend.informer.version += 1
    await request(cache, server)
    assert server.executions == 2
    server.backend.lifecycle.events.version += 1
    await request(cache, server)
    assert server.executions == 3
    await request(cache, server)
    assert server.executions == 3


async def test_callers_never_share_entries(cache: ResponseCache, server: Server) -> None:
    alice = await request(cache, server, ALICE)
    bob = await request(cache, server, BOB)
    viewer = await request(cache, server, ALICE_VIEWER)
    assert len({alice, bob, viewer}) == 3
    assert server.executions == 3
    assert await request(cache, server, BOB) == bob
    assert server.executions == 3


async def test_variables_are_part_of_the_key(cache: ResponseCache, server: Server) -> None:
    document = "query Q($n: Int) { sandboxes(first: $n) { totalCount } }"
    await request(cache, server, document=document, variables={"n": 1})
    await request(cache, server, document=document, variables={"n": 2})
    assert server.executions == 2


async def test_unauthenticated_or_uncacheable_requests_always_execute(
    cache: ResponseCache, server: Server
) -> None:
    for _ in range(2):
        await request(cache, server, principal=None)
        await request(cache, server, document='{ sandbox(name: "x") { logs } }')
    assert server.executions == 4
    assert len(cache) == 0


@pytest.mark.parametrize("failure", ["errors", "status", "change_during"])
async def test_failed_or_torn_answers_are_not_kept(
    cache: ResponseCache, server: Server, failure: str
) -> None:
    if failure == "errors":
        server.errors = True
    elif failure == "status":
        server.status = 503
    else:
        server.change_during = True
    await request(cache, server)
    await request(cache, server)
    assert server.executions == 2
    assert len(cache) == 0


async def test_identical_requests_in_flight_execute_once(
    cache: ResponseCache, server: Server
) -> None:
    server.delay = 0.05
    answers = await asyncio.gather(*(request(cache, server) for _ in range(5)))
    assert server.executions == 1
    assert len(set(answers)) == 1


async def test_memory_is_bounded(
    cache: ResponseCache, server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("app.graphql.response_cache.MAX_ENTRIES", 3)
    document = "query Q($n: Int) { sandboxes(first: $n) { totalCount } }"
    for n in range(5):
        await request(cache, server, document=document, variables={"n": n})
    assert len(cache) == 3
