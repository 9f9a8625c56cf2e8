"""Authentication over HTTP and both websocket protocols, with the tokens file changing under it."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.config import AppSettings, ServerSettings
from app.server import create_app
from tests.graphql.conftest import RunningServer, start_server
from tests.graphql.helpers import LegacyWS, TransportWS, open_ws
from tests.security.conftest import Callers, TokensFile, wait_closed

Json = dict[str, Any]
QUERY = "{ sandboxes { totalCount } }"


def assert_unauthenticated(response: httpx.Response) -> Json:
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"].startswith("Bearer")
    body: Json = response.json()
    assert "data" not in body
    [error] = body["errors"]
    assert error["extensions"] == {"code": "UNAUTHENTICATED"}
    found: Json = error
    return found


async def test_no_token_is_401_unauthenticated_with_no_data(secure_server: RunningServer) -> None:
    async with httpx.AsyncClient(base_url=secure_server.url) as http:
        error = assert_unauthenticated(await http.post("/graphql", json={"query": QUERY}))
        assert "Authorization: Bearer" in error["message"]
        # Nothing is parsed or executed first: not even the schema is readable.
        assert_unauthenticated(
            await http.post("/graphql", json={"query": "{ __schema { types { name } } }"})
        )
        assert_unauthenticated(await http.get("/graphql", params={"query": QUERY}))
        assert_unauthenticated(await http.post("/graphql", content=b"not json"))


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer ksa_not-a-real-token",
        "Bearer",
        "Bearer ksa_with spaces",
        "Basic dXNlcjpwYXNz",
        "ksa_token-without-a-scheme",
        "Bearer " + "x" * 600,
        "Bearer a\tb",
    ],
)
async def test_wrong_or_malformed_tokens_are_refused(
    secure_server: RunningServer, callers: Callers, authorization: str
) -> None:
    callers.new("admin")  # the file is not empty: these fail on their own merits
    async with httpx.AsyncClient(base_url=secure_server.url) as http:
        response = await http.post(
            "/graphql", json={"query": QUERY}, headers={"Authorization": authorization}
        )
        assert_unauthenticated(response)


async def test_a_valid_token_is_served_and_the_scheme_is_case_insensitive(
    secure_server: RunningServer, callers: Callers
) -> None:
    caller = callers.new("viewer")
    assert await caller.gql.data(QUERY) == {"sandboxes": {"totalCount": 0}}
    async with httpx.AsyncClient(base_url=secure_server.url) as http:
        response = await http.post(
            "/graphql", json={"query": QUERY}, headers={"authorization": f"bEaReR {caller.token}"}
        )
        assert response.status_code == 200
        assert response.json() == {"data": {"sandboxes": {"totalCount": 0}}}


async def test_graphiql_is_served_without_a_token(secure_server: RunningServer) -> None:
    async with httpx.AsyncClient(base_url=secure_server.url) as http:
        response = await http.get("/graphql", headers={"Accept": "text/html"})
        assert response.status_code == 200
        assert "graphiql" in response.text.lower()
        assert (await http.get("/healthz")).status_code == 200


async def test_the_tokens_file_is_reread_when_it_changes(
    secure_server: RunningServer,
    tokens_file: TokensFile,
    callers: Callers,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caller = callers.new("user")  # minted after the server started: picked up at once
    assert await caller.gql.data(QUERY)
    tokens_file.remove(caller.token)
    assert_unauthenticated(await caller.http.post("/graphql", json={"query": QUERY}))

    # A broken file fails closed (and says why in the log), until it is fixed.
    other = callers.new("user")
    good = tokens_file.path.read_text()
    with caplog.at_level(logging.ERROR, logger="app.auth.tokens"):
        tokens_file.write('{"tokens": [{"sha256": "oops"}]}')
        assert_unauthenticated(await other.http.post("/graphql", json={"query": QUERY}))
    assert any("tokens[0].sha256" in r.getMessage() for r in caplog.records)
    tokens_file.write(good)
    assert await other.gql.data(QUERY)


@pytest.mark.parametrize(
    "payload",
    [
        None,
        {},
        {"Authorization": "Bearer ksa_wrong"},
        {"Authorization": "Basic abc"},
        {"Authorization": 42},
        {"token": "whatever"},
    ],
)
async def test_transport_ws_refuses_connection_init_with_4403(
    secure_server: RunningServer, callers: Callers, payload: Json | None
) -> None:
    callers.new("admin")
    async with open_ws(secure_server.ws_url, TransportWS.protocol) as ws:
        message: Json = {"type": "connection_init"}
        if payload is not None:
            message["payload"] = payload
        await ws.send_json(message)
        closed = await wait_closed(ws)
    assert (closed.code, closed.reason) == (4403, "Forbidden")


async def test_transport_ws_subscribe_before_acknowledgement_is_4401(
    secure_server: RunningServer,
) -> None:
    async with open_ws(secure_server.ws_url, TransportWS.protocol) as ws:
        await ws.send_json(
            {
                "id": "1",
                "type": "subscribe",
                "payload": {"query": "subscription { sandboxChanges { type } }"},
            }
        )
        closed = await wait_closed(ws)
    assert (closed.code, closed.reason) == (4401, "Unauthorized")


@pytest.mark.parametrize("key", ["Authorization", "authorization", "AUTHORIZATION"])
async def test_transport_ws_takes_the_token_from_connection_init_in_any_case(
    secure_server: RunningServer, callers: Callers, key: str
) -> None:
    caller = callers.new("viewer")
    async with open_ws(secure_server.ws_url, TransportWS.protocol) as ws:
        await ws.send_json({"type": "connection_init", "payload": {key: f"Bearer {caller.token}"}})
        assert (await ws.receive_json(timeout=10))["type"] == "connection_ack"
        client = TransportWS(ws)
        op = await client.subscribe("query { sandboxes { totalCount } }")
        assert await client.next_data(op) == {"sandboxes": {"totalCount": 0}}


async def test_websocket_token_may_come_in_the_upgrade_header(
    secure_server: RunningServer, callers: Callers
) -> None:
    caller = callers.new("viewer")
    headers = {"Authorization": f"Bearer {caller.token}"}
    async with open_ws(secure_server.ws_url, TransportWS.protocol, headers=headers) as ws:
        await TransportWS(ws).init()


async def test_legacy_graphql_ws_sends_connection_error_then_closes(
    secure_server: RunningServer, callers: Callers
) -> None:
    callers.new("admin")
    async with open_ws(secure_server.ws_url, LegacyWS.protocol) as ws:
        await ws.send_json({"type": "connection_init", "payload": {"Authorization": "Bearer no"}})
        message = await ws.receive_json(timeout=10)
        assert message["type"] == "connection_error"
        assert message["payload"]["extensions"] == {"code": "UNAUTHENTICATED"}
        await wait_closed(ws)

    caller = callers.new("viewer")
    async with open_ws(secure_server.ws_url, LegacyWS.protocol) as ws:
        await ws.send_json({"type": "connection_init", "payload": caller.init_payload})
        while (message := await ws.receive_json(timeout=10))["type"] == "ka":
            pass
        assert message["type"] == "connection_ack"


@pytest.mark.parametrize("protocol", [TransportWS, LegacyWS])
async def test_a_revoked_token_stops_working_on_an_open_websocket(
    secure_server: RunningServer,
    tokens_file: TokensFile,
    callers: Callers,
    protocol: type[TransportWS],
) -> None:
    caller = callers.new("user")
    async with open_ws(secure_server.ws_url, protocol.protocol) as ws:
        await ws.send_json({"type": "connection_init", "payload": caller.init_payload})
        while (await ws.receive_json(timeout=10))["type"] != "connection_ack":
            pass
        client = protocol(ws)
        op = await client.subscribe("subscription { sandboxChanges { type } }")
        await asyncio.sleep(0.2)
        tokens_file.remove(caller.token)
        refused = await client.subscribe("subscription { sandboxChanges { type } }")
        errors = await client.expect_errors(refused)
        assert errors[0]["extensions"]["code"] == "UNAUTHENTICATED"
        await client.stop(op)


async def _serve_briefly(
    kubeconfig: Path, server: ServerSettings, caplog: pytest.LogCaptureFixture
) -> tuple[RunningServer, list[logging.LogRecord]]:
    with caplog.at_level(logging.WARNING, logger="app.auth"):
        running = await start_server(
            create_app(AppSettings(server=server), kubeconfig=str(kubeconfig))
        )
    return running, [r for r in caplog.records if r.name.startswith("app.auth")]


async def test_auth_disabled_only_explicitly_and_with_a_warning(
    kata_manager_kubeconfig: Path, caplog: pytest.LogCaptureFixture
) -> None:
    running, records = await _serve_briefly(
        kata_manager_kubeconfig, ServerSettings(auth_disabled=True), caplog
    )
    try:
        assert any(
            r.levelno == logging.WARNING and "DISABLED" in r.getMessage() for r in records
        ), records
        async with httpx.AsyncClient(base_url=running.url) as http:
            response = await http.post("/graphql", json={"query": QUERY})
            assert response.status_code == 200
            assert "data" in response.json()
    finally:
        await running.stop()


async def test_without_a_tokens_file_everything_is_refused(
    kata_manager_kubeconfig: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    for server in (ServerSettings(), ServerSettings(api_tokens_path=tmp_path / "absent.json")):
        caplog.clear()
        running, records = await _serve_briefly(kata_manager_kubeconfig, server, caplog)
        try:
            assert any(r.levelno == logging.WARNING for r in records), records
            async with httpx.AsyncClient(base_url=running.url) as http:
                response = await http.post(
                    "/graphql", json={"query": QUERY}, headers={"Authorization": "Bearer x"}
                )
                assert_unauthenticated(response)
        finally:
            await running.stop()
