"""The simulated Kata nodes behave as ``devcluster.kwok`` documents.

The cluster tests act as ``kata-manager`` (pods, pods/log, events) and read Nodes as admin; the
failure paths are chosen only by image and labels, as a GraphQL client could.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from pathlib import Path
from typing import Any, cast

import aiohttp
import pytest
import yaml
from kubernetes_asyncio.client import ApiClient, CoreV1Api

from devcluster import kwok
from devcluster.cluster import LocalCluster
from tests.devcluster.rawpods import (
    NS,
    CreatePod,
    condition,
    eventually,
    gone,
    pod_body,
    reasons,
    running_and_ready,
    wait_pod,
)

LIFECYCLE_EVENTS = {"Scheduled", "Pulling", "Pulled", "Created", "Started"}


# -- without a cluster -------------------------------------------------------------------------


def test_config_holds_stages_and_logs_with_the_boot_delay(tmp_path: Path) -> None:
    config = kwok.write_kwok_config(tmp_path, boot_delay_ms=2500, boot_jitter_ms=500)
    documents = list(yaml.safe_load_all(config.read_text()))
    kinds = [document["kind"] for document in documents]
    assert kinds.count("ClusterLogs") == 1
    stages = {d["metadata"]["name"]: d for d in documents if d["kind"] == "Stage"}
    delay = stages[kwok.BOOT_STAGE]["spec"]["delay"]
    assert (delay["durationMilliseconds"], delay["jitterDurationMilliseconds"]) == (2500, 3000)
    assert {"node-initialize", "node-remove-not-ready-taint", "kata-pod-remove"} <= set(stages)
    lines = kwok.logs_file(tmp_path).read_text().splitlines()
    assert len(lines) == len(kwok.LOG_LINES)
    assert lines[0].split(" ", 3)[1:] == ["stdout", "F", kwok.LOG_LINES[0]]


def test_command_manages_only_our_nodes_and_serves_https(tmp_path: Path) -> None:
    argv = kwok.kwok_command(
        kwok_bin=Path("/bin/kwok"),
        kubeconfig=tmp_path / "kubeconfig",
        config=tmp_path / "kwok.yaml",
        workdir=tmp_path,
        node_port=10250,
        cert_file=tmp_path / "tls.crt",
        key_file=tmp_path / "tls.key",
    )
    assert "--manage-all-nodes=false" in argv
    assert "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake" in argv
    assert "--server-address=127.0.0.1:10250" in argv
    assert f"--tls-cert-file={tmp_path / 'tls.crt'}" in argv
    for node in kwok.node_manifests(node_port=10250):
        assert node["metadata"]["annotations"]["kwok.x-k8s.io/node"] == "fake"
        assert node["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"] == 10250


# -- against the cluster -----------------------------------------------------------------------


@pytest.mark.cluster
async def test_four_ready_untainted_kata_nodes(admin_api: ApiClient) -> None:
    nodes = (await CoreV1Api(admin_api).list_node()).items
    assert sorted(node.metadata.name for node in nodes) == list(kwok.NODE_NAMES)
    for node in nodes:
        assert node.metadata.labels[kwok.KATA_RUNTIME_LABEL] == "true"
        assert not node.spec.taints
        assert condition(node, "Ready") == "True"
        assert node.status.allocatable == {
            "cpu": "8",
            "memory": "16Gi",
            "pods": "110",
            "ephemeral-storage": "100Gi",
        }
        assert next((a.type, a.address) for a in node.status.addresses) == (
            "InternalIP",
            "127.0.0.1",
        )


@pytest.mark.cluster
async def test_pod_boots_then_runs_ready_with_ip_and_events(
    core: CoreV1Api, create_pod: CreatePod
) -> None:
    started = time.monotonic()
    name = await create_pod(
        pod_body("docker.io/library/busybox:1.36", labels={kwok.BOOT_DELAY_LABEL: "2s"})
    )
    booting = await wait_pod(
        core,
        name,
        lambda p: (
            bool(p.status.container_statuses)
            and p.status.container_statuses[0].state.waiting is not None
        ),
        "ContainerCreating",
    )
    assert booting.status.container_statuses[0].state.waiting.reason == "ContainerCreating"
    assert booting.status.phase == "Pending"
    assert booting.status.pod_ip is None
    ready = await wait_pod(core, name, running_and_ready, "Running and Ready")
    assert time.monotonic() - started >= 2.0
    assert ready.spec.node_name in kwok.NODE_NAMES
    assert ready.status.pod_ip.startswith("10.42.")
    assert ready.status.host_ip == "127.0.0.1"
    container = ready.status.container_statuses[0]
    assert container.ready
    assert container.state.running is not None
    assert container.container_id.startswith("containerd://")

    async def lifecycle_events() -> bool:
        return set(await reasons(core, name)) >= LIFECYCLE_EVENTS

    await eventually(lifecycle_events, what=f"events {LIFECYCLE_EVENTS}")


@pytest.mark.cluster
async def test_logs_tail_and_follow(
    core: CoreV1Api, create_pod: CreatePod, cluster: LocalCluster
) -> None:
    name = await create_pod(pod_body("busybox"))
    await wait_pod(core, name, running_and_ready, "Running and Ready")

    tail = await core.read_namespaced_pod_log(name, NS, tail_lines=3)
    assert tail.splitlines()[-3:] == list(kwok.LOG_LINES[-3:])
    assert len(tail.splitlines()) == 3

    marker = f"follow-{secrets.token_hex(4)}"
    # Without preloading, the client hands back the open aiohttp response.
    response = cast(
        aiohttp.ClientResponse,
        await core.read_namespaced_pod_log(
            name, NS, follow=True, tail_lines=1, _preload_content=False
        ),
    )
    try:
        first = await asyncio.wait_for(response.content.readline(), timeout=10)
        assert first.decode().rstrip("\n") == kwok.LOG_LINES[-1]
        kwok.append_log_lines(cluster.workdir / "kwok", [marker])
        line = await asyncio.wait_for(response.content.readline(), timeout=10)
        assert line.decode().rstrip("\n") == marker
    finally:
        response.close()


@pytest.mark.cluster
async def test_image_pull_failure_stays_pending_in_backoff(
    core: CoreV1Api, create_pod: CreatePod
) -> None:
    name = await create_pod(pod_body(kwok.IMAGE_PULL_FAILURE))
    seen: set[str] = set()

    def backoff(pod: Any) -> bool:
        statuses = pod.status.container_statuses or []
        waiting = statuses[0].state.waiting if statuses else None
        if waiting is not None:
            seen.add(waiting.reason)
        return waiting is not None and waiting.reason == "ImagePullBackOff"

    pod = await wait_pod(core, name, backoff, "ImagePullBackOff")
    assert "ErrImagePull" in seen
    assert pod.status.phase == "Pending"
    assert condition(pod, "Ready") == "False"

    async def failure_events() -> bool:
        return {"Scheduled", "Pulling", "Failed", "BackOff"} <= set(await reasons(core, name))

    await eventually(failure_events, what="Failed and BackOff events")
    assert "Started" not in await reasons(core, name)


@pytest.mark.cluster
@pytest.mark.parametrize(
    ("image", "phase", "code", "reason"),
    [
        (kwok.EXIT_ZERO, "Succeeded", 0, "Completed"),
        (kwok.EXIT_NONZERO + ":latest", "Failed", kwok.EXIT_NONZERO_CODE, "Error"),
    ],
)
async def test_container_exits_after_running(
    core: CoreV1Api, create_pod: CreatePod, image: str, phase: str, code: int, reason: str
) -> None:
    name = await create_pod(pod_body(image))
    await wait_pod(core, name, running_and_ready, "Running and Ready")
    pod = await wait_pod(core, name, lambda p: p.status.phase == phase, phase)
    terminated = pod.status.container_statuses[0].state.terminated
    assert (terminated.exit_code, terminated.reason) == (code, reason)
    assert condition(pod, "Ready") == "False"


@pytest.mark.cluster
async def test_restart_always_exit_goes_to_crashloop(
    core: CoreV1Api, create_pod: CreatePod
) -> None:
    body = pod_body(kwok.EXIT_NONZERO, restart="Always")
    name = await create_pod(body)

    def crashloop(pod: Any) -> bool:
        statuses = pod.status.container_statuses or []
        waiting = statuses[0].state.waiting if statuses else None
        return waiting is not None and waiting.reason == "CrashLoopBackOff"

    pod = await wait_pod(core, name, crashloop, "CrashLoopBackOff")
    status = pod.status.container_statuses[0]
    assert pod.status.phase == "Running"
    assert status.restart_count == 1
    assert status.last_state.terminated.exit_code == kwok.EXIT_NONZERO_CODE


@pytest.mark.cluster
async def test_graceful_delete_is_finalized(core: CoreV1Api, create_pod: CreatePod) -> None:
    body = pod_body("busybox", labels={kwok.TERMINATE_DELAY_LABEL: "2s"})
    name = await create_pod(body)
    await wait_pod(core, name, running_and_ready, "Running and Ready")

    started = time.monotonic()
    await core.delete_namespaced_pod(name, NS, grace_period_seconds=30)
    terminating = await core.read_namespaced_pod(name, NS)
    assert terminating.metadata.deletion_timestamp is not None

    await eventually(lambda: gone(core, name), within=15, what="the pod to be removed")
    assert 1.5 <= time.monotonic() - started < 15
    assert "Killing" in await reasons(core, name)
