"""The API served by uvicorn in this process, on a free port, against the real control plane.

The server shares the test's event loop, so a test can look at the informer's subscribers and
at the loop's tasks to check that a closed subscription left nothing behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette

from app.config import AppSettings, KubernetesSettings, LifecycleSettings, ServerSettings
from app.graphql.context import Backend
from app.server import Runtime, create_app
from tests.graphql.helpers import GraphQLClient

ALLOWED_ORIGIN = "https://dashboard.example"


class _Server(uvicorn.Server):
    # The test process keeps its own signal handling (Ctrl-C stops pytest, not just the server).
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@dataclass
class RunningServer:
    app: Starlette
    url: str
    server: uvicorn.Server
    task: asyncio.Task[None]

    @property
    def runtime(self) -> Runtime:
        runtime: Runtime = self.app.state.runtime
        return runtime

    @property
    def backend(self) -> Backend:
        backend = self.runtime.backend
        assert backend is not None
        return backend

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://") + "/graphql"

    async def stop(self) -> None:
        self.server.should_exit = True
        await asyncio.wait_for(self.task, timeout=30)


async def start_server(
    app: Starlette, *, wait_ready: bool = True, tcp_nodelay: bool = False
) -> RunningServer:
    # asyncio sets TCP_NODELAY only on accepted sockets whose protocol says TCP; without it each
    # response waits ~40 ms for the client's delayed ACK (uvicorn's own --host/--port has it).
    # Off by default for now: with it, tests/graphql/test_cleanup.py's legacy graphql-ws log
    # subscriptions leave their tasks behind (a race the 40 ms hid). tests/security turns it on.
    protocol = socket.IPPROTO_TCP if tcp_nodelay else 0
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, protocol)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        http="h11",
        ws="wsproto",
        lifespan="on",
        log_level="warning",
        timeout_graceful_shutdown=10,
    )
    server = _Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]), name=f"uvicorn-{port}")
    running = RunningServer(app=app, url=f"http://127.0.0.1:{port}", server=server, task=task)
    async with asyncio.timeout(30):
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("uvicorn exited during startup")
            await asyncio.sleep(0.02)
    if wait_ready:
        async with httpx.AsyncClient(base_url=running.url) as client, asyncio.timeout(30):
            while (await client.get("/readyz")).status_code != 200:
                await asyncio.sleep(0.05)
    return running


# No reaper unless a test asks for one: there is a single Lease for it, which a long-lived test
# server would otherwise hold while tests/lifecycle elects its own leaders.
NO_REAPER = LifecycleSettings(reaper_enabled=False)


def server_settings(
    *,
    kubernetes: KubernetesSettings | None = None,
    lifecycle: LifecycleSettings = NO_REAPER,
    **server: Any,
) -> AppSettings:
    """The API tests' settings: authentication is off (tests/security runs it with tokens)."""
    defaults: dict[str, Any] = {
        "allowed_websocket_origins": (ALLOWED_ORIGIN,),
        "auth_disabled": True,
    }
    return AppSettings(
        kubernetes=kubernetes or KubernetesSettings(),
        server=ServerSettings(**(defaults | server)),
        lifecycle=lifecycle,
    )


@pytest.fixture(scope="session")
async def api_server(kata_manager_kubeconfig: Path) -> AsyncIterator[RunningServer]:
    app = create_app(server_settings(), kubeconfig=str(kata_manager_kubeconfig))
    running = await start_server(app)
    try:
        yield running
    finally:
        await running.stop()


@pytest.fixture(scope="session")
async def http(api_server: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=api_server.url, timeout=60) as client:
        yield client


@pytest.fixture(scope="session")
def gql(http: httpx.AsyncClient) -> GraphQLClient:
    return GraphQLClient(http)


@pytest.fixture
async def test_label(gql: GraphQLClient) -> AsyncIterator[str]:
    """A label value unique to the test (key ``gqltest``); its sandboxes are deleted after it."""
    value = f"t{secrets.token_hex(5)}"
    yield value
    await gql.data(
        "mutation($s: String!) { deleteSandboxes(labelSelector: $s, force: true) { count } }",
        {"s": f"gqltest={value}"},
    )
