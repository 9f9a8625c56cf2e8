"""Error codes that come from the cluster's policies: ResourceQuota admission (QUOTA_EXCEEDED,
FORBIDDEN) and the service's creation rate limit (RATE_LIMITED).

Each test serves a namespace of its own (with the kata-manager Role bound in it), so a quota
that refuses every pod cannot disturb the other tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from kubernetes_asyncio.client import ApiClient, CoreV1Api, RbacAuthorizationV1Api

from app.config import AppSettings, KubernetesSettings, ServerSettings
from app.server import create_app
from tests.graphql.conftest import start_server
from tests.graphql.helpers import CREATE, GraphQLClient, Json

SPEC: Json = {"image": "docker.io/library/busybox:1.36"}


def _body(manifest: Json) -> Any:
    """A manifest as a request body (the client takes dicts as well as its model objects)."""
    return manifest


@pytest.fixture
async def namespace(admin_api: ApiClient) -> AsyncIterator[str]:
    name = f"gql-{secrets.token_hex(4)}"
    core, rbac = CoreV1Api(admin_api), RbacAuthorizationV1Api(admin_api)
    await core.create_namespace(_body({"metadata": {"name": name}}))
    # Pods run as the namespace's "default" ServiceAccount, which only a controller would create.
    await core.create_namespaced_service_account(name, _body({"metadata": {"name": "default"}}))
    await rbac.create_namespaced_role(
        name,
        _body(
            {
                "metadata": {"name": "kata-manager"},
                "rules": [
                    {
                        "apiGroups": [""],
                        "resources": ["pods"],
                        "verbs": ["create", "get", "list", "watch", "delete"],
                    },
                    {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
                    {"apiGroups": [""], "resources": ["events"], "verbs": ["get", "list", "watch"]},
                ],
            }
        ),
    )
    await rbac.create_namespaced_role_binding(
        name,
        _body(
            {
                "metadata": {"name": "kata-manager"},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "Role",
                    "name": "kata-manager",
                },
                "subjects": [
                    {
                        "kind": "ServiceAccount",
                        "name": "kata-manager",
                        "namespace": "kata-sandbox-system",
                    }
                ],
            }
        ),
    )
    try:
        yield name
    finally:
        await core.delete_collection_namespaced_pod(name, grace_period_seconds=0)
        # Without a namespace controller the namespace stays Terminating; it is empty and inert.
        await core.delete_namespace(name)


@contextlib.asynccontextmanager
async def serving(namespace: str, kubeconfig: Path, **kube: Any) -> AsyncIterator[GraphQLClient]:
    settings = AppSettings(
        kubernetes=KubernetesSettings(target_namespace=namespace, **kube),
        server=ServerSettings(auth_disabled=True),
    )
    server = await start_server(create_app(settings, kubeconfig=str(kubeconfig)))
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as http:
            yield GraphQLClient(http)
    finally:
        await server.stop()


async def test_creations_beyond_the_rate_limit_are_rate_limited(
    namespace: str, kata_manager_kubeconfig: Path
) -> None:
    async with serving(namespace, kata_manager_kubeconfig, max_creations_per_minute=1) as gql:
        await gql.data(CREATE, {"input": SPEC})
        errors = await gql.errors(CREATE, {"input": SPEC})
        extensions = errors[0]["extensions"]
        assert extensions["code"] == "RATE_LIMITED"
        assert 0 < extensions["retryAfterSeconds"] <= 60


async def _error_code_becomes(gql: GraphQLClient, code: str) -> Json:
    """Create until the answer is ``code``: quota admission sees quota changes from a cache."""
    async with asyncio.timeout(30):
        while True:
            body = await gql.post(CREATE, {"input": SPEC})
            for error in body.get("errors") or []:
                if error["extensions"]["code"] == code:
                    return dict(error)
            await asyncio.sleep(0.2)


async def test_a_resource_quota_refuses_with_quota_exceeded(
    namespace: str, kata_manager_kubeconfig: Path, admin_api: ApiClient
) -> None:
    core = CoreV1Api(admin_api)
    quota: Json = {"metadata": {"name": "no-pods"}, "spec": {"hard": {"pods": "0"}}}
    await core.create_namespaced_resource_quota(namespace, _body(quota))
    async with serving(namespace, kata_manager_kubeconfig) as gql:
        # No quota controller runs here, so the status is ours to write. With limits but no usage
        # known yet, admission refuses every pod: a 403 that is not about a quota used up.
        status = {"hard": {"pods": "0"}}
        await core.replace_namespaced_resource_quota_status(
            "no-pods", namespace, _body({**quota, "status": status})
        )
        forbidden = await _error_code_becomes(gql, "FORBIDDEN")
        assert forbidden["extensions"] == {"code": "FORBIDDEN"}
        assert forbidden["path"] == ["createSandbox"]

        status = {"hard": {"pods": "0"}, "used": {"pods": "0"}}
        await core.replace_namespaced_resource_quota_status(
            "no-pods", namespace, _body({**quota, "status": status})
        )
        exceeded = await _error_code_becomes(gql, "QUOTA_EXCEEDED")
        assert exceeded["extensions"] == {"code": "QUOTA_EXCEEDED"}
        assert "quota" in exceeded["message"]
