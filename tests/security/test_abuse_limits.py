"""Request body size, websocket message size, subscriptions per connection and per tenant,
sandboxes per tenant."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from kubernetes_asyncio.client import ApiClient

from app.config import AppSettings, ServerSettings
from app.graphql.limits import MAX_OPERATIONS_PER_CONNECTION
from app.server import create_app
from tests.graphql.conftest import RunningServer, start_server
from tests.graphql.helpers import CREATE, LegacyWS, TransportWS, open_ws
from tests.security.conftest import (
    BUSYBOX,
    MAX_REQUEST_BODY_BYTES,
    MAX_SANDBOXES_PER_TENANT,
    MAX_SUBSCRIPTIONS_PER_TENANT,
    Callers,
    connected,
    pod_uids,
    wait_closed,
)

Json = dict[str, Any]
CHANGES = "subscription { sandboxChanges { type } }"
DELETE = "mutation($n: String!) { deleteSandbox(name: $n, force: true) { count } }"


def _padded(size: int) -> bytes:
    """A valid GraphQL request of about ``size`` bytes (the padding is a variable)."""
    body = {"query": "{ __typename }", "variables": {"pad": ""}}
    overhead = len(json.dumps(body).encode())
    body["variables"] = {"pad": "x" * (size - overhead)}
    return json.dumps(body).encode()


async def test_request_body_size_is_limited(secure_server: RunningServer, callers: Callers) -> None:
    caller = callers.new("viewer")
    headers = {"Content-Type": "application/json"}
    ok = await caller.http.post(
        "/graphql", content=_padded(MAX_REQUEST_BODY_BYTES), headers=headers
    )
    assert ok.status_code == 200, ok.text
    too_large = await caller.http.post(
        "/graphql", content=_padded(MAX_REQUEST_BODY_BYTES + 1), headers=headers
    )
    assert too_large.status_code == 413
    [error] = too_large.json()["errors"]
    assert error["extensions"] == {"code": "BAD_USER_INPUT"}

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it arrives
        for _ in range(MAX_REQUEST_BODY_BYTES // 1024 + 2):
            yield b" " * 1024

    streamed = await caller.http.post("/graphql", content=chunks(), headers=headers)
    assert streamed.status_code == 413
    # Before authentication: an anonymous client cannot make the server buffer more either.
    async with httpx.AsyncClient(base_url=secure_server.url) as anonymous:
        response = await anonymous.post(
            "/graphql", content=_padded(MAX_REQUEST_BODY_BYTES * 2), headers=headers
        )
        assert response.status_code == 413


@pytest.mark.parametrize("protocol", [TransportWS, LegacyWS])
async def test_websocket_messages_are_size_limited(
    secure_server: RunningServer, callers: Callers, protocol: type[TransportWS]
) -> None:
    caller = callers.new("viewer")
    async with open_ws(secure_server.ws_url, protocol.protocol) as ws:
        await ws.send_json({"type": "connection_init", "payload": caller.init_payload})
        while (await ws.receive_json(timeout=10))["type"] != "connection_ack":
            pass
        await ws.send_text(json.dumps({"type": "x", "pad": "x" * MAX_REQUEST_BODY_BYTES}))
        closed = await wait_closed(ws)
    assert closed.code == 1009


async def _wait_subscriptions(server: RunningServer, tenant: str, count: int) -> None:
    quotas = server.backend.access.quotas
    async with asyncio.timeout(10):
        while quotas.subscriptions(tenant) != count:
            await asyncio.sleep(0.02)


async def test_subscriptions_per_tenant_are_limited(
    secure_server: RunningServer, callers: Callers
) -> None:
    a = callers.new("viewer")
    a2 = callers.new("user", tenant=a.tenant)  # another token of the same tenant
    b = callers.new("viewer")
    async with connected(secure_server, a) as one, connected(secure_server, a2, LegacyWS) as two:
        ops = [await one.subscribe(CHANGES) for _ in range(MAX_SUBSCRIPTIONS_PER_TENANT - 1)]
        await two.subscribe(CHANGES)
        await _wait_subscriptions(secure_server, a.tenant, MAX_SUBSCRIPTIONS_PER_TENANT)
        extra = await one.subscribe(CHANGES)
        errors = await one.expect_errors(extra)
        assert errors[0]["extensions"]["code"] == "QUOTA_EXCEEDED"
        async with connected(secure_server, b) as other:  # other tenants are not affected
            op = await other.subscribe('subscription { sandboxUpdates(name: "nope") { type } }')
            assert (await other.expect_errors(op))[0]["extensions"]["code"] == "NOT_FOUND"
        await one.stop(ops[0])
        await _wait_subscriptions(secure_server, a.tenant, MAX_SUBSCRIPTIONS_PER_TENANT - 1)
        again = await one.subscribe('subscription { sandboxUpdates(name: "nope") { type } }')
        assert (await one.expect_errors(again))[0]["extensions"]["code"] == "NOT_FOUND"
    await _wait_subscriptions(secure_server, a.tenant, 0)


@pytest.mark.parametrize("protocol", [TransportWS, LegacyWS])
async def test_operations_per_connection_are_limited(
    kata_manager_kubeconfig: Path, protocol: type[TransportWS]
) -> None:
    settings = AppSettings(server=ServerSettings(auth_disabled=True))
    server = await start_server(create_app(settings, kubeconfig=str(kata_manager_kubeconfig)))
    try:
        async with open_ws(server.ws_url, protocol.protocol) as ws:
            client = protocol(ws)
            await client.init()
            for _ in range(MAX_OPERATIONS_PER_CONNECTION):
                await client.subscribe(CHANGES)
            extra = await client.subscribe(CHANGES)
            errors = await client.expect_errors(extra)
            assert errors[0]["message"] == "Subscription limit reached"
    finally:
        await server.stop()


async def test_sandboxes_per_tenant_are_limited(callers: Callers, admin_api: ApiClient) -> None:
    a, b = callers.new("user"), callers.new("user")
    names = [(await a.create("quota"))["name"] for _ in range(MAX_SANDBOXES_PER_TENANT)]
    before = await pod_uids(admin_api)
    errors = await a.gql.errors(CREATE, {"input": {"image": BUSYBOX}})
    assert errors[0]["extensions"] == {"code": "QUOTA_EXCEEDED"}
    assert str(MAX_SANDBOXES_PER_TENANT) in errors[0]["message"]
    assert await pod_uids(admin_api) <= before
    assert await b.create("quota")  # another tenant is not affected
    # Invalid input is reported as such, even at the quota.
    errors = await a.gql.errors(CREATE, {"input": {"image": "BAD"}})
    assert errors[0]["extensions"]["code"] == "BAD_USER_INPUT"
    # A sandbox being deleted no longer counts.
    await a.gql.data(DELETE, {"n": names[0]})
    assert await a.create("quota")


async def test_a_burst_of_creates_cannot_overshoot_the_quota(callers: Callers) -> None:
    a = callers.new("user")
    results = await asyncio.gather(
        *(a.gql.post(CREATE, {"input": {"image": BUSYBOX}}) for _ in range(6))
    )
    created = [r for r in results if r.get("data")]
    refused = [r["errors"][0]["extensions"]["code"] for r in results if r.get("errors")]
    assert len(created) == MAX_SANDBOXES_PER_TENANT
    assert refused == ["QUOTA_EXCEEDED"] * (6 - MAX_SANDBOXES_PER_TENANT)
