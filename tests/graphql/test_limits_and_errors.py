"""Request limits, error hygiene, websocket origins, and an API whose cluster is unreachable."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from httpx_ws import WebSocketUpgradeError

from app.graphql.limits import MAX_ALIASES, MAX_OPERATIONS_PER_CONNECTION, MAX_TOKENS
from app.server import create_app
from tests.graphql.conftest import ALLOWED_ORIGIN, RunningServer, server_settings, start_server
from tests.graphql.helpers import GraphQLClient, TransportWS, open_ws

SECRET = "https://10.0.0.1:6443/api/v1 token=eyJhbGciOi-secret"


async def test_too_deep_a_query_is_refused(gql: GraphQLClient) -> None:
    deep = "{ sandboxes { edges { node { " + "a { " * 10 + "b" + " }" * 10 + " } } } }"
    errors = await gql.errors(deep)
    assert any("exceeds maximum operation depth" in e["message"] for e in errors), errors
    assert {e["extensions"]["code"] for e in errors} == {"BAD_USER_INPUT"}


async def test_too_many_aliases_are_refused(gql: GraphQLClient) -> None:
    aliases = " ".join(f'a{i}: sandbox(name: "x{i}") {{ name }}' for i in range(MAX_ALIASES + 1))
    errors = await gql.errors("{ " + aliases + " }")
    assert errors[0]["message"] == f"{MAX_ALIASES + 1} aliases found. Allowed: {MAX_ALIASES}"
    assert errors[0]["extensions"] == {"code": "BAD_USER_INPUT"}
    allowed = " ".join(f'a{i}: sandbox(name: "x{i}") {{ name }}' for i in range(MAX_ALIASES))
    assert await gql.data("{ " + allowed + " }") == {f"a{i}": None for i in range(MAX_ALIASES)}


async def test_too_many_tokens_are_refused(gql: GraphQLClient) -> None:
    fields = " ".join("totalCount" for _ in range(MAX_TOKENS))
    errors = await gql.errors("{ sandboxes { " + fields + " } }")
    assert "tokens" in errors[0]["message"]
    assert errors[0]["extensions"] == {"code": "BAD_USER_INPUT"}


async def test_unexpected_errors_never_leak(
    gql: GraphQLClient,
    api_server: RunningServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def explode(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(f"cannot reach {SECRET}")

    monkeypatch.setattr(api_server.backend.service, "page", explode)
    monkeypatch.setattr(api_server.backend.service, "find", explode)
    body = await gql.post("{ sandboxes { totalCount } }")
    assert body["data"] is None
    [error] = body["errors"]
    assert error["message"] == "Internal server error"
    assert error["extensions"]["code"] == "INTERNAL"
    assert error["path"] == ["sandboxes"]
    text = json.dumps(body)
    assert "10.0.0.1" not in text
    assert "token" not in text
    assert "Traceback" not in text
    # The server's log has what the client does not: the reference, the cause and the trace.
    logged = [r for r in caplog.records if error["extensions"]["reference"] in r.getMessage()]
    assert logged
    assert logged[0].exc_info is not None

    # The same in a subscription, where the error is raised inside the stream.
    async with open_ws(api_server.ws_url, TransportWS.protocol) as ws:
        client = TransportWS(ws)
        await client.init()
        op = await client.subscribe("subscription { sandboxChanges { type } }")
        errors = await client.expect_errors(op)
        assert [e["message"] for e in errors] == ["Internal server error"]
        assert errors[0]["extensions"]["code"] == "INTERNAL"
        assert "10.0.0.1" not in json.dumps(errors)


async def test_websocket_origins(api_server: RunningServer) -> None:
    host = api_server.url.removeprefix("http://")
    for origin in (ALLOWED_ORIGIN, f"http://{host}", None):
        headers = {"Origin": origin} if origin else {}
        async with open_ws(api_server.ws_url, TransportWS.protocol, headers=headers) as ws:
            await TransportWS(ws).init()
    with pytest.raises(WebSocketUpgradeError) as refused:
        async with open_ws(
            api_server.ws_url,
            TransportWS.protocol,
            headers={"Origin": "https://evil.example"},
        ):
            pass
    assert refused.value.response.status_code == 403


async def test_operations_per_connection_are_limited(api_server: RunningServer) -> None:
    async with open_ws(api_server.ws_url, TransportWS.protocol) as ws:
        client = TransportWS(ws)
        await client.init()
        ops = [
            await client.subscribe("subscription { sandboxChanges { type } }")
            for _ in range(MAX_OPERATIONS_PER_CONNECTION)
        ]
        extra = await client.subscribe("subscription { sandboxChanges { type } }")
        errors = await client.expect_errors(extra)
        assert errors[0]["message"] == "Subscription limit reached"
        await client.stop(ops[0])
        # Completing one frees its slot.
        async with asyncio.timeout(10):
            while True:
                again = await client.subscribe(
                    'subscription { sandboxUpdates(name: "x") { type } }'
                )
                message = await client.receive(again)
                if message["type"] != "error":
                    break
        assert message["type"] == "next"
        assert message["payload"]["errors"][0]["extensions"]["code"] == "NOT_FOUND"


async def test_subscriptions_are_websocket_only(http: httpx.AsyncClient) -> None:
    response = await http.post(
        "/graphql", json={"query": "subscription { sandboxChanges { type } }"}
    )
    assert response.status_code == 400
    assert response.text == "subscriptions are not allowed when using POST"


async def test_an_unreachable_cluster_is_unavailable_not_an_error(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "dead.kubeconfig"
    kubeconfig.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:9"}}],
                "users": [{"name": "u", "user": {"token": "not-a-real-token"}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
    )
    app = create_app(server_settings(), kubeconfig=str(kubeconfig), store_sync_timeout=0.5)
    server = await start_server(app, wait_ready=False)
    try:
        async with httpx.AsyncClient(base_url=server.url) as http:
            assert (await http.get("/healthz")).status_code == 200
            assert (await http.get("/readyz")).status_code == 503
            body = (
                await http.post("/graphql", json={"query": "{ sandboxes { totalCount } }"})
            ).json()
            assert body["errors"][0]["extensions"] == {"code": "UNAVAILABLE"}
            assert "127.0.0.1:9" not in json.dumps(body)
            mutation = 'mutation { deleteSandbox(name: "x") { count } }'
            body = (await http.post("/graphql", json={"query": mutation})).json()
            assert body["errors"][0]["extensions"] == {"code": "UNAVAILABLE"}
    finally:
        await server.stop()
