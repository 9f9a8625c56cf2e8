"""Mutations: ``createSandbox`` against a raw pod POST through kubernetes-asyncio, in one run.

At each store size (100, 1,000, 10,000 sandboxes) the two are timed in interleaved pairs, one
request at a time, so both see the same apiserver and etcd at the same moment:

- ``createSandbox``: the GraphQL mutation over HTTP (one keep-alive connection), timed by the
  client from sending the request to reading the whole answer. It includes the server's own
  work (GraphQL, validation, the manifest, idempotency and rate-limit bookkeeping) and its
  wait until the informer's store has the pod, so a query sent next sees it;
- ``raw POST``: ``CoreV1Api.create_namespaced_pod`` with the same manifest as kata-manager, the
  answer read but not deserialised into models (``_preload_content=False``): the apiserver's
  own cost, which no API in front of it can avoid.

The overhead is the difference of the two medians. The pods are deleted after each size.

``python -m bench.mutations`` runs this alone on a control plane of its own.
"""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import dataclass
from typing import Any

from kubernetes_asyncio.client import ApiClient, Configuration, CoreV1Api
from kubernetes_asyncio.config import load_kube_config

from bench.cluster import BenchCluster, pod_manifest, run_alone
from bench.common import (
    Table,
    median,
    ms,
    percentile,
    progress,
)
from bench.loadgen import Connection, build_request
from bench.server import ServerProcess
from devcluster.cluster import SANDBOX_NAMESPACE, free_port

SIZES = (100, 1_000, 10_000)
PAIRS = 40
WARMUP_PAIRS = 3
LABEL = "bench-mutation"

CREATE = """mutation Create($input: CreateSandboxInput!) {
  createSandbox(input: $input) { name phase ready createdAt }
}"""
_names = itertools.count()


@dataclass
class MutationRun:
    size: int
    graphql: list[float]
    raw: list[float]
    apiserver_per_create: float


def _create_body(value: str) -> bytes:
    variables = {
        "input": {
            "image": "docker.io/library/busybox:1.36",
            "labels": [{"key": LABEL, "value": value}],
        }
    }
    return json.dumps({"query": CREATE, "variables": variables}).encode()


async def _manager_api(cluster: BenchCluster) -> ApiClient:
    configuration = Configuration()
    await load_kube_config(
        config_file=str(cluster.manager_kubeconfig), client_configuration=configuration
    )
    return ApiClient(configuration)


async def measure(server: ServerProcess, cluster: BenchCluster, size: int) -> MutationRun:
    value = f"s{size}"
    body = _create_body(value)
    request = build_request("POST", "/graphql", port=server.port, body=body, headers=server.headers)
    connection = Connection(server.port)
    api = await _manager_api(cluster)
    pods: Any = CoreV1Api(api)
    graphql: list[float] = []
    raw: list[float] = []
    try:
        before = await server.stats()
        for index in range(WARMUP_PAIRS + PAIRS):
            started = time.perf_counter()
            status, answer = await connection.request(request)
            elapsed = time.perf_counter() - started
            if status != 200 or b'"errors"' in answer:
                raise RuntimeError(f"createSandbox failed: {status} {answer[:500]!r}")
            if index >= WARMUP_PAIRS:
                graphql.append(elapsed)

            manifest = pod_manifest(f"bench-raw-{next(_names):05d}", labels={LABEL: value})
            started = time.perf_counter()
            response = await pods.create_namespaced_pod(
                SANDBOX_NAMESPACE, manifest, _preload_content=False
            )
            await response.read()
            elapsed = time.perf_counter() - started
            if response.status != 201:
                raise RuntimeError(f"raw POST failed: {response.status}")
            if index >= WARMUP_PAIRS:
                raw.append(elapsed)
        after = await server.stats()
    finally:
        connection.close()
        await api.close()
        await cluster.delete_selected(f"{LABEL}={value}")
    creates = WARMUP_PAIRS + PAIRS
    return MutationRun(
        size=size,
        graphql=graphql,
        raw=raw,
        apiserver_per_create=(after["apiserver_total"] - before["apiserver_total"]) / creates,
    )


def table(runs: list[MutationRun]) -> Table:
    result = Table(
        f"Mutations: createSandbox vs a raw pod POST (kubernetes-asyncio), {PAIRS} interleaved "
        "pairs per size, one at a time",
        [
            "sandboxes",
            "createSandbox p50 ms",
            "p99 ms",
            "raw POST p50 ms",
            "p99 ms",
            "overhead p50 ms",
            "ratio p50",
            "apiserver reqs/create",
        ],
    )
    for run in runs:
        gql, raw = median(run.graphql), median(run.raw)
        result.add(
            run.size,
            ms(gql),
            ms(percentile(run.graphql, 0.99)),
            ms(raw),
            ms(percentile(run.raw, 0.99)),
            ms(gql - raw),
            gql / raw if raw else float("nan"),
            run.apiserver_per_create,
        )
    result.notes.append(
        "overhead = createSandbox p50 - raw POST p50: GraphQL over HTTP, validation, and the wait "
        "until the informer's store has the new pod."
    )
    return result


async def run(cluster: BenchCluster, sizes: tuple[int, ...] = SIZES) -> Table:
    runs = []
    for size in sizes:
        await cluster.populate(size)
        progress(f"mutations at {size:,} sandboxes")
        server = ServerProcess(cluster.manager_kubeconfig, free_port())
        await server.start()
        try:
            runs.append(await measure(server, cluster, size))
        finally:
            server.stop()
    return table(runs)


def main() -> None:
    run_alone(run)


if __name__ == "__main__":
    main()
