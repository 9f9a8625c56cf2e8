"""Clients for the tests: GraphQL over HTTP and over both websocket subprotocols."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
from httpx_ws import AsyncWebSocketSession, aconnect_ws

Json = dict[str, Any]

SANDBOX_FIELDS = """
  name namespace image phase ready terminating createdAt nodeName podIP runtimeClassName
  labels { key value }
  resources { requests { memoryMi cpuMillicores } limits { memoryMi cpuMillicores }
              overhead { memoryMi cpuMillicores } }
  containers { name image ready restartCount state reason message exitCode }
  conditions { type status reason message lastTransitionTime }
"""

CREATE = (
    "mutation($input: CreateSandboxInput!) { createSandbox(input: $input) { "
    + SANDBOX_FIELDS
    + " } }"
)


@contextlib.asynccontextmanager
async def open_ws(
    url: str, protocol: str, *, headers: dict[str, str] | None = None
) -> AsyncIterator[AsyncWebSocketSession]:
    """A websocket to ``url`` speaking ``protocol`` (from its own HTTP client)."""
    connection: contextlib.AbstractAsyncContextManager[AsyncWebSocketSession] = aconnect_ws(
        url, subprotocols=[protocol], headers=headers or {}
    )
    async with connection as ws:
        yield ws


class GraphQLError(AssertionError):
    def __init__(self, errors: list[Json]) -> None:
        super().__init__(errors)
        self.errors = errors


class GraphQLClient:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def post(self, query: str, variables: Json | None = None) -> Json:
        response = await self.http.post("/graphql", json={"query": query, "variables": variables})
        assert response.status_code == 200, response.text
        body: Json = response.json()
        return body

    async def data(self, query: str, variables: Json | None = None) -> Json:
        body = await self.post(query, variables)
        if body.get("errors"):
            raise GraphQLError(body["errors"])
        data: Json = body["data"]
        return data

    async def errors(self, query: str, variables: Json | None = None) -> list[Json]:
        body = await self.post(query, variables)
        assert body.get("errors"), body
        errors: list[Json] = body["errors"]
        return errors

    async def create(self, label: str, **spec: Any) -> Json:
        labels = [{"key": "gqltest", "value": label}, *spec.pop("labels", [])]
        spec = {"image": "docker.io/library/busybox:1.36", "labels": labels, **spec}
        data = await self.data(CREATE, {"input": spec})
        created: Json = data["createSandbox"]
        return created


class TransportWS:
    """The ``graphql-transport-ws`` protocol (graphql-ws library, Apollo, urql)."""

    protocol = "graphql-transport-ws"

    def __init__(self, ws: AsyncWebSocketSession) -> None:
        self.ws = ws
        self._ids = itertools.count(1)
        self.pending: dict[str, list[Json]] = {}

    async def init(self) -> None:
        await self.ws.send_json({"type": "connection_init", "payload": {}})
        assert (await self.ws.receive_json(timeout=10))["type"] == "connection_ack"

    async def subscribe(self, query: str, variables: Json | None = None) -> str:
        op = str(next(self._ids))
        payload = {"query": query, "variables": variables or {}}
        await self.ws.send_json({"id": op, "type": "subscribe", "payload": payload})
        return op

    async def stop(self, op: str) -> None:
        await self.ws.send_json({"id": op, "type": "complete"})

    async def receive(self, op: str, *, timeout: float = 30) -> Json:
        """The next message for ``op``: {"type": next|error|complete, ...} (pongs skipped)."""
        queued = self.pending.get(op)
        if queued:
            return queued.pop(0)
        async with asyncio.timeout(timeout):
            while True:
                message: Json = await self.ws.receive_json()
                if message.get("type") in ("ping", "pong", "ka"):
                    continue
                if message.get("id") == op:
                    return message
                self.pending.setdefault(str(message.get("id")), []).append(message)

    async def next_payload(self, op: str, *, timeout: float = 30) -> Json:
        message = await self.receive(op, timeout=timeout)
        assert message["type"] == "next", message
        payload: Json = message["payload"]
        return payload

    async def next_data(self, op: str, *, timeout: float = 30) -> Json:
        payload = await self.next_payload(op, timeout=timeout)
        assert not payload.get("errors"), payload
        data: Json = payload["data"]
        return data

    async def until(
        self, op: str, predicate: Callable[[Json], bool], *, timeout: float = 30
    ) -> list[Json]:
        """Data messages up to and including the first for which ``predicate`` holds."""
        seen: list[Json] = []
        async with asyncio.timeout(timeout):
            while True:
                data = await self.next_data(op)
                seen.append(data)
                if predicate(data):
                    return seen

    async def expect_errors(self, op: str, *, timeout: float = 30) -> list[Json]:
        """The errors ending ``op``: an ``error`` message, or a result with errors + complete."""
        message = await self.receive(op, timeout=timeout)
        if message["type"] == "error":
            errors: list[Json] = message["payload"]
            return errors if isinstance(errors, list) else [errors]
        assert message["type"] in ("next", "data"), message
        errors = message["payload"].get("errors")
        assert errors, message
        await self.expect_complete(op, timeout=timeout)
        return errors

    async def expect_complete(self, op: str, *, timeout: float = 30) -> None:
        message = await self.receive(op, timeout=timeout)
        assert message["type"] == "complete", message


class LegacyWS(TransportWS):
    """The older ``graphql-ws`` protocol (subscriptions-transport-ws)."""

    protocol = "graphql-ws"

    async def init(self) -> None:
        await self.ws.send_json({"type": "connection_init", "payload": {}})
        while True:
            message = await self.ws.receive_json(timeout=10)
            if message["type"] != "ka":
                break
        assert message["type"] == "connection_ack"

    async def subscribe(self, query: str, variables: Json | None = None) -> str:
        op = str(next(self._ids))
        payload = {"query": query, "variables": variables or {}}
        await self.ws.send_json({"id": op, "type": "start", "payload": payload})
        return op

    async def stop(self, op: str) -> None:
        await self.ws.send_json({"id": op, "type": "stop"})

    async def next_payload(self, op: str, *, timeout: float = 30) -> Json:
        message = await self.receive(op, timeout=timeout)
        assert message["type"] == "data", message
        payload: Json = message["payload"]
        return payload
