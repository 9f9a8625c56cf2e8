"""Session fixtures: one real control plane per test run, ``manifests/`` applied as-is.

Tests act as the ``kata-manager`` ServiceAccount (a bound token from the TokenRequest API), so
RBAC is the one the service runs with. The admin kubeconfig is only for arranging and inspecting.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from kubernetes_asyncio.client import ApiClient, Configuration
from kubernetes_asyncio.config import load_kube_config

from app.config import KubernetesSettings
from app.kube.client import create_api_client
from app.kube.informer import PodInformer
from app.kube.pods import PodRepository
from app.kube.transport import KubeTransport
from app.models import Label, SandboxSpec
from app.sandboxes.service import SandboxService
from devcluster.build import ensure_binaries
from devcluster.cluster import SANDBOX_NAMESPACE, LocalCluster


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    boot_delay_ms = int(os.environ.get("DEVCLUSTER_BOOT_DELAY_MS", "1000"))
    local = LocalCluster(
        tmp_path_factory.mktemp("cluster"), binaries=ensure_binaries(), boot_delay_ms=boot_delay_ms
    )
    local.start()
    try:
        yield local
    finally:
        local.stop()


@pytest.fixture(scope="session")
def kata_manager_kubeconfig(cluster: LocalCluster) -> Path:
    return cluster.service_account_kubeconfig(cluster.workdir / "kata-manager.kubeconfig")


async def _api_client(kubeconfig: Path) -> ApiClient:
    configuration = Configuration()
    await load_kube_config(config_file=str(kubeconfig), client_configuration=configuration)
    return ApiClient(configuration)


@pytest.fixture(scope="session")
async def manager_api(kata_manager_kubeconfig: Path) -> AsyncIterator[ApiClient]:
    """A raw client acting as kata-manager, for tests of the environment itself."""
    client = await _api_client(kata_manager_kubeconfig)
    async with client:
        yield client


@pytest.fixture(scope="session")
async def admin_api(cluster: LocalCluster) -> AsyncIterator[ApiClient]:
    client = await _api_client(cluster.admin_kubeconfig)
    async with client:
        yield client


@pytest.fixture(scope="session")
async def manager_client(kata_manager_kubeconfig: Path) -> AsyncIterator[ApiClient]:
    """The service's own client construction, acting as kata-manager."""
    client = await create_api_client(kubeconfig=str(kata_manager_kubeconfig))
    async with client:
        yield client


@pytest.fixture(scope="session")
def repository(manager_client: ApiClient) -> PodRepository:
    return PodRepository(KubeTransport(manager_client), SANDBOX_NAMESPACE)


@pytest.fixture(scope="session")
async def informer(repository: PodRepository) -> AsyncIterator[PodInformer]:
    pods = PodInformer(repository)
    pods.start()
    await pods.wait_synced(timeout=30)
    try:
        yield pods
    finally:
        await pods.stop()


@pytest.fixture(scope="session")
def kube_settings() -> KubernetesSettings:
    return KubernetesSettings()


@pytest.fixture(scope="session")
def service(
    repository: PodRepository, informer: PodInformer, kube_settings: KubernetesSettings
) -> SandboxService:
    return SandboxService(repository, informer, kube_settings)


BUSYBOX = "docker.io/library/busybox:1.36"


class SpecFactory:
    """Specs labelled with one test's own tag, so the test can clean up exactly what it made."""

    def __init__(self, tag: str) -> None:
        self.tag = tag
        self.selector = f"test-tag={tag}"

    def __call__(self, image: str = BUSYBOX, **labels: str) -> SandboxSpec:
        extra = tuple(Label(key.replace("_", "-"), value) for key, value in labels.items())
        return SandboxSpec(image=image, labels=(Label("test-tag", self.tag), *extra))


@pytest.fixture
async def spec(service: SandboxService) -> AsyncIterator[SpecFactory]:
    factory = SpecFactory(secrets.token_hex(4))
    yield factory
    await service.delete_matching(factory.selector, force=True)
