"""The control plane the benchmarks run against, and bulk sandbox pods in it.

A :class:`BenchCluster` starts ``devcluster.LocalCluster`` (etcd + kube-apiserver v1.33,
kube-scheduler, kwok nodes) in a temporary directory and prepares it for load: the sandbox
namespace's ResourceQuota (500 pods) is removed and the quota stand-in stopped, since it lists
every pod each second, which at 10,000 pods would load the apiserver during every measurement.

Bulk pods are created as admin straight through the apiserver, in parallel, with the manifest the
service itself builds (its managed labels, runtimeClassName kata-qemu, the created-at annotation).
The first ``RUNNING_PODS`` get ``spec.nodeName`` preset round-robin over the kwok nodes (the nodes
hold 110 pods each for the scheduler, and scheduling is not what is measured), and kwok runs them
(Running + Ready, with IPs, container statuses and events): those are the oldest, so every first
page a benchmark reads is of running sandboxes. The rest stay Pending: they name a scheduler that
does not exist (``PARKED_SCHEDULER``), so neither kube-scheduler nor kwok ever touches them.
Measured on the 2-core machine: kwok brings about 22 pods a second to Running (1,000 in 47 s,
2,000 more in 92 s), so running all 10,000 would take 7-8 minutes and keep the store churning
meanwhile, while creating them takes about 35 s. :meth:`BenchCluster.populate` waits until the
running ones run, so the measurements see a quiet store.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kubernetes_asyncio.client import ApiClient, Configuration
from kubernetes_asyncio.config import load_kube_config

from app.config import KubernetesSettings
from app.kube.transport import KubeTransport
from app.models import Label, NotFound, SandboxSpec
from app.sandboxes.manifest import build_pod_manifest
from bench.common import Stopwatch, Table, machine_description, progress, report, run_async
from devcluster.build import ensure_binaries
from devcluster.cluster import SANDBOX_NAMESPACE, LocalCluster
from devcluster.kwok import NODE_NAMES

BENCH_LABEL = "bench"
BENCH_IMAGE = "docker.io/library/busybox:1.36"
PODS_PATH = f"/api/v1/namespaces/{SANDBOX_NAMESPACE}/pods"
CREATE_CONCURRENCY = 24
RUNNING_PODS = 400
PARKED_SCHEDULER = "bench-parked"
SETTLE_TIMEOUT_SECONDS = 300.0


def pod_manifest(
    name: str,
    *,
    labels: dict[str, str] | None = None,
    node: str | None = None,
    scheduler: str | None = None,
) -> dict[str, Any]:
    """A sandbox pod as the service would create it, optionally bound to ``node`` up front or
    left to ``scheduler``."""
    spec = SandboxSpec(
        image=BENCH_IMAGE,
        labels=tuple(Label(key, value) for key, value in (labels or {BENCH_LABEL: "bulk"}).items()),
    )
    manifest = build_pod_manifest(
        spec, KubernetesSettings(), name=name, created_at=datetime.now(UTC)
    )
    if node is not None:
        manifest["spec"]["nodeName"] = node
    if scheduler is not None:
        manifest["spec"]["schedulerName"] = scheduler
    return manifest


class BenchCluster:
    """The local control plane in a temporary directory, plus an admin client to load it."""

    def __init__(self, workdir: Path, *, boot_delay_ms: int = 0) -> None:
        self.local = LocalCluster(workdir, binaries=ensure_binaries(), boot_delay_ms=boot_delay_ms)
        self.workdir = workdir
        self.bulk_pods = 0
        self._admin: ApiClient | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        watch = Stopwatch()
        self.local.start()
        self.local.quota.stop()
        self.local.kubectl("delete", "resourcequota", "--all", "-n", SANDBOX_NAMESPACE)
        self.manager_kubeconfig = self.local.service_account_kubeconfig(
            self.workdir / "kata-manager.kubeconfig"
        )
        progress(f"control plane up in {watch.elapsed:.1f}s at {self.local.server_url}")

    async def close(self) -> None:
        if self._admin is not None:
            await self._admin.close()
            self._admin = None

    def stop(self) -> None:
        self.local.stop()

    @property
    def version(self) -> str:
        return str(self.local.version().get("gitVersion", "?"))

    # -- admin access ------------------------------------------------------------------------

    async def admin(self) -> KubeTransport:
        if self._admin is None:
            configuration = Configuration()
            await load_kube_config(
                config_file=str(self.local.admin_kubeconfig), client_configuration=configuration
            )
            configuration.connection_pool_maxsize = CREATE_CONCURRENCY * 2
            self._admin = ApiClient(configuration)
        return KubeTransport(self._admin)

    async def create_pod(self, manifest: dict[str, Any]) -> dict[str, Any]:
        transport = await self.admin()
        return await transport.request("POST", PODS_PATH, action="create pods", body=manifest)

    async def patch_labels(self, name: str, labels: dict[str, str]) -> dict[str, Any]:
        transport = await self.admin()
        return await transport.request(
            "PATCH",
            f"{PODS_PATH}/{name}",
            action="patch pods",
            body={"metadata": {"labels": labels}},
            content_type="application/merge-patch+json",
        )

    async def delete_pod(self, name: str) -> None:
        transport = await self.admin()
        with contextlib.suppress(NotFound):
            await transport.request(
                "DELETE",
                f"{PODS_PATH}/{name}",
                action="delete pods",
                body={"gracePeriodSeconds": 0},
            )

    async def delete_selected(self, selector: str) -> None:
        transport = await self.admin()
        await transport.request(
            "DELETE",
            PODS_PATH,
            action="delete pods",
            query=[("labelSelector", selector), ("gracePeriodSeconds", 0)],
        )

    async def count(self, selector: str, *, field_selector: str | None = None) -> int:
        transport = await self.admin()
        query: list[tuple[str, str | int | bool]] = [("labelSelector", selector)]
        if field_selector:
            query.append(("fieldSelector", field_selector))
        body = await transport.request("GET", PODS_PATH, action="list pods", query=query)
        return len(body.get("items") or [])

    # -- bulk pods ---------------------------------------------------------------------------

    async def populate(self, total: int) -> float:
        """Create bulk pods until there are ``total``; wait until those on nodes run. Seconds
        taken."""
        watch = Stopwatch()
        names = [f"bench-{index:05d}" for index in range(self.bulk_pods, total)]
        queue: asyncio.Queue[str] = asyncio.Queue()
        for name in names:
            queue.put_nowait(name)

        async def worker() -> None:
            while not queue.empty():
                name = queue.get_nowait()
                index = int(name.rsplit("-", 1)[1])
                if index < RUNNING_PODS:
                    manifest = pod_manifest(name, node=NODE_NAMES[index % len(NODE_NAMES)])
                else:
                    manifest = pod_manifest(name, scheduler=PARKED_SCHEDULER)
                await self.create_pod(manifest)

        await asyncio.gather(*(worker() for _ in range(CREATE_CONCURRENCY)))
        created = watch.elapsed
        self.bulk_pods = total
        await self.wait_running(f"{BENCH_LABEL}=bulk")
        rate = len(names) / max(created, 1e-9)
        progress(
            f"{len(names)} pods created in {created:.1f}s ({rate:.0f}/s); "
            f"the first {min(total, RUNNING_PODS)} Running after {watch.elapsed:.1f}s"
        )
        return watch.elapsed

    async def wait_running(self, selector: str) -> None:
        async with asyncio.timeout(SETTLE_TIMEOUT_SECONDS):
            while True:
                # Only the pods still starting come back, so a settled store costs one tiny list.
                fields = f"status.phase!=Running,spec.schedulerName!={PARKED_SCHEDULER}"
                if await self.count(selector, field_selector=fields) == 0:
                    return
                await asyncio.sleep(1.0)


@contextlib.contextmanager
def started_cluster() -> Iterator[BenchCluster]:
    with tempfile.TemporaryDirectory(prefix="kata-bench-") as workdir:
        cluster = BenchCluster(Path(workdir))
        progress("starting the local control plane")
        cluster.start()
        try:
            yield cluster
        finally:
            cluster.stop()


@contextlib.asynccontextmanager
async def admin_session(cluster: BenchCluster) -> AsyncIterator[BenchCluster]:
    """Close the admin client on the loop that opened it."""
    try:
        yield cluster
    finally:
        await cluster.close()


def run_alone(run: Callable[[BenchCluster], Awaitable[Table]]) -> None:
    """One benchmark on a control plane of its own: what each script does when run by itself."""
    print(machine_description())
    with started_cluster() as cluster:

        async def go() -> Table:
            async with admin_session(cluster):
                return await run(cluster)

        report(run_async(go()))
