from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, cast

import pytest
from kubernetes_asyncio.client import ApiClient, CoreV1Api, V1Pod
from kubernetes_asyncio.client.exceptions import ApiException

from tests.devcluster.rawpods import NS, CreatePod


@pytest.fixture
def core(manager_api: ApiClient) -> CoreV1Api:
    return CoreV1Api(manager_api)


@pytest.fixture
async def create_pod(core: CoreV1Api) -> AsyncIterator[CreatePod]:
    """Create pods as kata-manager; whatever a test leaves is force-deleted after it."""
    created: list[str] = []

    async def create(body: dict[str, Any]) -> str:
        pod = await core.create_namespaced_pod(NS, cast("V1Pod", body))
        name: str = pod.metadata.name
        created.append(name)
        return name

    yield create
    for name in created:
        try:
            await core.delete_namespaced_pod(name, NS, grace_period_seconds=0)
        except ApiException as error:
            if error.status != 404:
                raise
