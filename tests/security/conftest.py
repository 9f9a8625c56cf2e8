"""The API with authentication on: a tokens file, a server reading it, and callers per tenant.

One server (uvicorn in this process, against the real control plane) serves every test here. Its
tokens file is rewritten as tests mint tokens, which also exercises the reload on change. Each
test gets fresh tenants (``t-<random>``), so counts and quotas are its own; at the end, every pod
of those tenants is deleted with the admin client.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from httpx_ws import AsyncWebSocketSession, WebSocketDisconnect
from kubernetes_asyncio.client import ApiClient, CoreV1Api

from app.auth import Role, TokenRecord, generate_token, hash_token
from app.auth.tokens import dump_tokens
from app.config import AppSettings, KubernetesSettings, ServerSettings
from app.kube.ownership import TENANT_LABEL
from app.server import create_app
from devcluster.cluster import SANDBOX_NAMESPACE
from tests.graphql.conftest import ALLOWED_ORIGIN, RunningServer, start_server
from tests.graphql.helpers import GraphQLClient, TransportWS, open_ws

Json = dict[str, Any]

# Small, so the quota tests reach them quickly; every test has tenants of its own.
MAX_SANDBOXES_PER_TENANT = 3
MAX_SUBSCRIPTIONS_PER_TENANT = 4
MAX_REQUEST_BODY_BYTES = 64 * 1024
BUSYBOX = "docker.io/library/busybox:1.36"


@dataclass
class TokensFile:
    path: Path
    records: list[TokenRecord] = field(default_factory=list)

    def add(self, tenant: str, role: Role | str) -> str:
        token = generate_token()
        role = Role(role)
        record = TokenRecord(
            token_id=f"{tenant}-{role.value}-{len(self.records)}",
            sha256=hash_token(token),
            tenant=tenant,
            role=role,
        )
        self.records.append(record)
        self.write(dump_tokens(self.records))
        return token

    def remove(self, token: str) -> None:
        digest = hash_token(token)
        self.records = [r for r in self.records if r.sha256 != digest]
        self.write(dump_tokens(self.records))

    def write(self, text: str) -> None:
        """Replace the file as a Secret update does: a new inode, renamed into place."""
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, self.path)


@pytest.fixture(scope="session")
def tokens_file(tmp_path_factory: pytest.TempPathFactory) -> TokensFile:
    tokens = TokensFile(tmp_path_factory.mktemp("tokens") / "tokens.json")
    tokens.write(json.dumps({"tokens": []}))
    return tokens


def secure_settings(tokens: Path, **kube: Any) -> AppSettings:
    return AppSettings(
        kubernetes=KubernetesSettings(**kube),
        server=ServerSettings(
            api_tokens_path=tokens,
            allowed_websocket_origins=(ALLOWED_ORIGIN,),
            max_sandboxes_per_tenant=MAX_SANDBOXES_PER_TENANT,
            max_subscriptions_per_tenant=MAX_SUBSCRIPTIONS_PER_TENANT,
            max_request_body_bytes=MAX_REQUEST_BODY_BYTES,
        ),
    )


@pytest.fixture(scope="session")
async def secure_server(
    kata_manager_kubeconfig: Path, tokens_file: TokensFile
) -> AsyncIterator[RunningServer]:
    app = create_app(secure_settings(tokens_file.path), kubeconfig=str(kata_manager_kubeconfig))
    running = await start_server(app, tcp_nodelay=True)
    try:
        yield running
    finally:
        await running.stop()


@dataclass
class Caller:
    """One token's view of the API."""

    tenant: str
    role: str
    token: str
    http: httpx.AsyncClient
    gql: GraphQLClient

    @property
    def init_payload(self) -> Json:
        return {"Authorization": f"Bearer {self.token}"}

    async def create(self, label: str, **spec: Any) -> Json:
        return await self.gql.create(label, **spec)


class Callers:
    def __init__(self, server: RunningServer, tokens: TokensFile) -> None:
        self.server = server
        self.tokens = tokens
        self.tenants: set[str] = set()
        self._clients: list[httpx.AsyncClient] = []

    def tenant(self) -> str:
        name = f"t-{secrets.token_hex(4)}"
        self.tenants.add(name)
        return name

    def client(self, headers: dict[str, str] | None = None) -> httpx.AsyncClient:
        http = httpx.AsyncClient(base_url=self.server.url, timeout=60, headers=headers or {})
        self._clients.append(http)
        return http

    def new(self, role: Role | str, tenant: str | None = None) -> Caller:
        tenant = tenant or self.tenant()
        self.tenants.add(tenant)
        token = self.tokens.add(tenant, role)
        http = self.client({"Authorization": f"Bearer {token}"})
        return Caller(tenant, Role(role).value, token, http, GraphQLClient(http))

    async def close(self) -> None:
        for http in self._clients:
            await http.aclose()


async def delete_tenant_pods(admin_api: ApiClient, tenants: set[str]) -> None:
    if tenants:
        await CoreV1Api(admin_api).delete_collection_namespaced_pod(
            SANDBOX_NAMESPACE,
            label_selector=f"{TENANT_LABEL} in ({','.join(sorted(tenants))})",
            grace_period_seconds=0,
        )


@pytest.fixture
async def callers(
    secure_server: RunningServer, tokens_file: TokensFile, admin_api: ApiClient
) -> AsyncIterator[Callers]:
    made = Callers(secure_server, tokens_file)
    try:
        yield made
    finally:
        await made.close()
        await delete_tenant_pods(admin_api, made.tenants)


@pytest.fixture
def label() -> str:
    """A value for the ``gqltest`` label, unique to the test."""
    return f"s{secrets.token_hex(5)}"


async def pod_uids(admin_api: ApiClient) -> set[str]:
    pods = await CoreV1Api(admin_api).list_namespaced_pod(SANDBOX_NAMESPACE)
    return {pod.metadata.uid for pod in pods.items}


async def read_pod(admin_api: ApiClient, name: str) -> Json:
    pod = await CoreV1Api(admin_api).read_namespaced_pod(name, SANDBOX_NAMESPACE)
    raw: Json = admin_api.sanitize_for_serialization(pod)
    return raw


@contextlib.asynccontextmanager
async def connected(
    server: RunningServer, caller: Caller, protocol: type[TransportWS] = TransportWS
) -> AsyncIterator[TransportWS]:
    """A websocket of ``caller``'s, past ``connection_ack``."""
    async with open_ws(server.ws_url, protocol.protocol) as ws:
        await ws.send_json({"type": "connection_init", "payload": caller.init_payload})
        while (await ws.receive_json(timeout=10))["type"] != "connection_ack":
            pass
        yield protocol(ws)


async def _drain(ws: AsyncWebSocketSession) -> None:
    async with asyncio.timeout(10):
        while True:
            await ws.receive_json()


async def wait_closed(ws: AsyncWebSocketSession) -> WebSocketDisconnect:
    """How the server closed ``ws`` (messages before that are skipped)."""
    with pytest.raises(WebSocketDisconnect) as closed:
        await _drain(ws)
    return closed.value
