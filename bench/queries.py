"""Queries: ``sandboxes(first: 50)``, a dashboard's selection, at 100, 1,000 and 10,000 sandboxes.

For each store size one server process (``bench.server``) is started and, one after another,
loaded by the same closed-loop generator (8 keep-alive connections, 1 s warm-up, 4 s measured):

- ``graphql cached``: the dashboard query, the same document and variables every time (what a
  polling dashboard sends), with the response cache on, as the service runs;
- ``graphql executed``: the same with the response cache off: every request executes;
- ``raw``: a Starlette route that builds the same bytes from the same store with ``json.dumps``
  (the bytes are checked to be identical to GraphQL's);
- ``static``: those bytes precomputed, the HTTP stack's ceiling.

The selection has ``bootPhase`` when the schema has it. Apiserver requests are those the server
process made while the four ran, by resource: ``pods`` (what reads could cause) and the rest
(e.g. the reaper's leader-election lease, renewed every few seconds whatever the load).

``python -m bench.queries`` runs this alone on a control plane of its own.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from bench.cluster import BenchCluster, run_alone
from bench.common import Table, ms, progress, ratio
from bench.loadgen import LoadResult, build_request, fetch, run_load
from bench.server import ServerProcess
from devcluster.cluster import free_port

SIZES = (100, 1_000, 10_000)
CONNECTIONS = 8
SECONDS = 4.0
WARMUP = 1.0

DASHBOARD_QUERY = """query Dashboard($first: Int) {
  sandboxes(first: $first) {
    totalCount
    pageInfo { hasNextPage }
    edges { node {
      name phase ready BOOT_PHASE
      labels { key value }
      resources { requests { memoryMi cpuMillicores } limits { memoryMi cpuMillicores } }
      createdAt
    } }
  }
}"""


def schema_has_boot_phase() -> bool:
    from app.graphql.schema import schema

    definition = schema.get_type_by_name("Sandbox")
    fields = getattr(definition, "fields", [])
    return any(getattr(f, "python_name", "") == "boot_phase" for f in fields)


def dashboard_body() -> bytes:
    query = DASHBOARD_QUERY.replace("BOOT_PHASE", "bootPhase" if schema_has_boot_phase() else "")
    return json.dumps({"query": query, "variables": {"first": 50}}).encode()


def _requests(stats: dict[str, Any]) -> tuple[int, int]:
    """(requests about pods, other requests) made by the server process so far."""
    calls: dict[str, int] = stats["apiserver"]
    pods = sum(n for key, n in calls.items() if key.endswith(" pods") and key != "watch pods")
    others = sum(n for key, n in calls.items() if not key.endswith(" pods"))
    return pods, others


@dataclass
class QueryRun:
    size: int
    cached: LoadResult
    executed: LoadResult
    raw: LoadResult
    static: LoadResult
    pod_requests: int
    other_requests: int
    store_changes: int
    cache_hits: int
    gc_share: float
    identical: bool


async def measure(server: ServerProcess, size: int) -> QueryRun:
    """The four routes, one after another, on a running server over ``size`` sandboxes."""
    port = server.port
    auth = server.headers
    body = dashboard_body()
    graphql = build_request("POST", "/graphql", port=port, body=body, headers=auth)
    raw = build_request("POST", "/bench/raw", port=port, body=body, headers=auth)
    boot = "1" if schema_has_boot_phase() else "0"
    static = build_request("GET", f"/bench/static?boot={boot}", port=port, headers=auth)
    _, graphql_body = await fetch(port, graphql)
    _, raw_body = await fetch(port, raw)
    answer = json.loads(graphql_body)
    if answer.get("errors") or answer["data"]["sandboxes"]["totalCount"] < size:
        raise RuntimeError(f"unexpected answer: {graphql_body[:500]!r}")
    before = await server.stats()

    async def load(request: bytes) -> LoadResult:
        return await run_load(
            port, request, connections=CONNECTIONS, seconds=SECONDS, warmup=WARMUP
        )

    cached = await load(graphql)
    await server.post("/bench/cache/off")
    try:
        gc_before = sum((await server.stats()).get("gc_seconds", {}).values())
        executed = await load(graphql)
        gc_after = sum((await server.stats()).get("gc_seconds", {}).values())
    finally:
        await server.post("/bench/cache/on")
    raw_result, static_result = await load(raw), await load(static)
    after = await server.stats()
    pods_before, others_before = _requests(before)
    pods_after, others_after = _requests(after)
    return QueryRun(
        size=answer["data"]["sandboxes"]["totalCount"],
        cached=cached,
        executed=executed,
        raw=raw_result,
        static=static_result,
        pod_requests=pods_after - pods_before,
        other_requests=others_after - others_before,
        store_changes=after["version"] - before["version"],
        cache_hits=after["cache_hits"] - before["cache_hits"],
        gc_share=(gc_after - gc_before) / (SECONDS + WARMUP),
        identical=graphql_body == raw_body,
    )


def table(runs: list[QueryRun]) -> Table:
    result = Table(
        f"Queries: sandboxes(first: 50), dashboard selection, {CONNECTIONS} connections, "
        f"{SECONDS:g} s each",
        ["sandboxes", "route", "req/s", "p50 ms", "p99 ms", "vs raw", "bytes"],
    )
    for run in runs:
        routes = (
            ("graphql cached", run.cached),
            ("graphql executed", run.executed),
            ("raw", run.raw),
            ("static", run.static),
        )
        for index, (name, load) in enumerate(routes):
            result.add(
                run.size if index == 0 else "",
                name,
                load.rate,
                ms(load.p50),
                ms(load.p99),
                ratio(load.rate, run.raw.rate),
                len(load.body),
            )
    by_size = {run.size: run for run in runs}
    for small, large in ((100, 1_000), (1_000, 10_000)):
        if small in by_size and large in by_size:
            for name in ("cached", "executed"):
                a = getattr(by_size[small], name)
                b = getattr(by_size[large], name)
                result.notes.append(
                    f"cost of {large:,} vs {small:,} sandboxes, graphql {name}: "
                    f"{ratio(a.rate, b.rate):.2f}x per request (by req/s), "
                    f"{ratio(b.p50, a.p50):.2f}x p50"
                )
    for run in runs:
        result.notes.append(
            f"{run.size:,} sandboxes: apiserver requests during the run: {run.pod_requests} "
            f"about pods, {run.other_requests} others (leases, events); store changes: "
            f"{run.store_changes}; cache hits: {run.cache_hits:,}; garbage collection took "
            f"{run.gc_share:.0%} of the server's time while executing; graphql cached vs "
            f"static: {ratio(run.cached.rate, run.static.rate):.2f}x"
        )
    identical = all(run.identical for run in runs)
    result.notes.append("raw route bytes identical to GraphQL's: " + ("yes" if identical else "NO"))
    if not schema_has_boot_phase():
        result.notes.append("the schema has no bootPhase field, so the selection has none.")
    return result


async def run(cluster: BenchCluster, sizes: tuple[int, ...] = SIZES) -> Table:
    runs = []
    for size in sizes:
        await cluster.populate(size)
        progress(f"queries at {size:,} sandboxes")
        server = ServerProcess(cluster.manager_kubeconfig, free_port())
        await server.start()
        try:
            runs.append(await measure(server, size))
        finally:
            server.stop()
    return table(runs)


def main() -> None:
    run_alone(run)


if __name__ == "__main__":
    main()
