"""Subscriptions: N ``graphql-transport-ws`` subscribers to ``sandboxChanges``, one server process.

For each N (10, 100, 1,000) a fresh server process (``bench.server``) is started, N websocket
connections (one subscription each, all the same document and variables, as one admin) are
opened from this process, and pods are changed about 10 times a second for a bounded time: each
change is a PATCH (as admin, straight to the apiserver) of one of ``POOL`` sandbox pods, setting
the label ``bench-ts`` to the wall-clock time (ns) at which the PATCH was sent. A subscriber that
receives the change reads the label back: its latency is the time from sending the PATCH (so it
includes the apiserver's write and its watch delivery) to the client's receipt.

Reported per N: p50/p99 latency; upstream pod watches the server process opened (the informer's
one watch is the only one allowed); the server's RSS delta per subscriber (before the first
connection vs all subscribed); events lost by subscribers that kept up (every PATCH must reach
every subscriber that was not cut off); subscribers cut off (an ``error`` message); changes not
delivered within the drain time after the last PATCH (a server that cannot keep up).

``python -m bench.subscriptions`` runs this alone on a control plane of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import time
from dataclasses import dataclass, field

from websockets.asyncio.client import ClientConnection, connect

from bench.cluster import (
    PARKED_SCHEDULER,
    BenchCluster,
    pod_manifest,
    run_alone,
)
from bench.common import Table, ms, percentile, progress
from bench.server import ServerProcess
from devcluster.cluster import free_port

# (subscribers, seconds of changes, permessage-deflate offered by the clients)
PLAN = ((10, 15.0, True), (100, 20.0, True), (1_000, 60.0, True), (1_000, 30.0, False))
CHANGES_PER_SECOND = 10.0
POOL = 20
POOL_LABEL = "bench-sub"
STAMP_LABEL = "bench-ts"
DRAIN_SECONDS = 10.0
CONNECT_CONCURRENCY = 50
LIVE_TIMEOUT_SECONDS = 120.0

SUBSCRIPTION = """subscription Changes($filter: SandboxFilter) {
  sandboxChanges(filter: $filter) {
    type
    sandbox { name phase ready labels { key value } createdAt }
  }
}"""
VARIABLES = {"filter": {"labelSelector": f"{POOL_LABEL}=pool"}}
_STAMP = re.compile(r'"key":"bench-ts","value":"(\d+)"')


@dataclass
class Subscriber:
    ws: ClientConnection
    latencies: list[float] = field(default_factory=list)
    stamps: set[int] = field(default_factory=set)
    errors: int = 0
    error: str = ""
    completed: bool = False

    async def listen(self) -> None:
        with contextlib.suppress(Exception):
            async for message in self.ws:
                now = time.time_ns()
                text = message if isinstance(message, str) else message.decode()
                if '"type":"next"' not in text:
                    if '"type":"error"' in text or '"errors"' in text:
                        self.errors += 1
                        self.error = text
                    elif '"type":"complete"' in text:
                        self.completed = True
                    continue
                found = _STAMP.search(text)
                if found is not None:
                    stamp = int(found.group(1))
                    if stamp not in self.stamps:
                        self.stamps.add(stamp)
                        self.latencies.append((now - stamp) / 1e9)


async def _subscribe(server: ServerProcess, *, deflate: bool = True) -> Subscriber:
    ws = await connect(
        server.url.replace("http://", "ws://") + "/graphql",
        subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
        compression="deflate" if deflate else None,
        max_queue=None,
        ping_interval=None,
        open_timeout=60,
    )
    await ws.send(json.dumps({"type": "connection_init", "payload": server.headers}))
    ack = json.loads(await ws.recv())
    if ack.get("type") != "connection_ack":
        raise RuntimeError(f"connection refused: {ack}")
    payload = {"query": SUBSCRIPTION, "variables": VARIABLES}
    await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))
    return Subscriber(ws)


async def _connect_all(server: ServerProcess, count: int, *, deflate: bool) -> list[Subscriber]:
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def one() -> Subscriber:
        async with gate:
            return await _subscribe(server, deflate=deflate)

    return list(await asyncio.gather(*(one() for _ in range(count))))


async def _patch(cluster: BenchCluster, index: int) -> int:
    stamp = time.time_ns()
    await cluster.patch_labels(f"bench-sub-{index % POOL:02d}", {STAMP_LABEL: str(stamp)})
    return stamp


async def _wait_all_received(subscribers: list[Subscriber], stamp: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(stamp in s.stamps or s.errors for s in subscribers):
            return True
        await asyncio.sleep(0.05)
    return False


async def _until_all_live(cluster: BenchCluster, subscribers: list[Subscriber]) -> None:
    """Probe changes until every subscriber has received one: a subscription is live only once
    the server has processed its ``subscribe`` message, which the protocol does not confirm."""
    deadline = time.monotonic() + LIVE_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        await _patch(cluster, 1)
        probe_deadline = time.monotonic() + 2.0
        while time.monotonic() < probe_deadline:
            if all(s.stamps or s.errors for s in subscribers):
                return
            await asyncio.sleep(0.05)
    raise RuntimeError("not every subscriber received a probe change")


async def ensure_pool(cluster: BenchCluster) -> None:
    """``POOL`` parked pods the subscribers watch (no node: nothing but the PATCHes moves them)."""
    if await cluster.count(f"{POOL_LABEL}=pool") >= POOL:
        return
    for index in range(POOL):
        manifest = pod_manifest(
            f"bench-sub-{index:02d}", labels={POOL_LABEL: "pool"}, scheduler=PARKED_SCHEDULER
        )
        await cluster.create_pod(manifest)


@dataclass
class SubscriptionRun:
    subscribers: int
    deflate: bool
    seconds: float
    changes: int
    latencies: list[float]
    watches: int
    rss_per_subscriber: float
    lost: int
    cut_off: int
    undelivered: int
    connect_seconds: float


async def measure(
    cluster: BenchCluster, count: int, seconds: float, *, deflate: bool = True
) -> SubscriptionRun:
    await ensure_pool(cluster)
    server = ServerProcess(cluster.manager_kubeconfig, free_port())
    await server.start()
    subscribers: list[Subscriber] = []
    listeners: list[asyncio.Task[None]] = []
    try:
        # Warm the server's code paths with one subscriber, so the RSS baseline is a fair one.
        warm = await _subscribe(server, deflate=deflate)
        warm_task = asyncio.create_task(warm.listen())
        await _patch(cluster, 0)
        await asyncio.sleep(0.5)
        await warm.ws.close()
        await warm_task
        await asyncio.sleep(0.5)
        rss_before = (await server.stats(trim=True))["rss"]

        connecting = time.perf_counter()
        subscribers = await _connect_all(server, count, deflate=deflate)
        listeners = [asyncio.create_task(s.listen()) for s in subscribers]
        await _until_all_live(cluster, subscribers)
        refused = [s.error for s in subscribers if s.errors]
        if refused:
            raise RuntimeError(f"{len(refused)} subscriptions failed: {refused[0][:500]}")
        connect_seconds = time.perf_counter() - connecting
        rss_after = (await server.stats(trim=True))["rss"]
        for subscriber in subscribers:
            subscriber.latencies.clear()
            subscriber.stamps.clear()

        progress(f"{count} subscribers live after {connect_seconds:.1f}s; changing pods")
        interval = 1.0 / CHANGES_PER_SECOND
        started = time.monotonic()
        patches: list[asyncio.Task[int]] = []
        total = round(seconds * CHANGES_PER_SECOND)
        for index in range(total):
            delay = started + index * interval - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            patches.append(asyncio.create_task(_patch(cluster, index)))
        stamps = set(await asyncio.gather(*patches))
        last = max(stamps)
        await _wait_all_received(subscribers, last, DRAIN_SECONDS)
        await asyncio.sleep(0.5)
        stats = await server.stats()
        if os.environ.get("BENCH_PROFILE"):
            await server.get("/bench/profile")
    finally:
        for listener in listeners:
            listener.cancel()
        # No closing handshakes: a server that cannot keep up would make 1,000 of them slow.
        for subscriber in subscribers:
            subscriber.ws.transport.abort()
        server.stop()

    # Kept up: not cut off, and caught up with the last change by the end of the drain.
    kept_up = [s for s in subscribers if not s.errors and last in s.stamps]
    lost = sum(len(stamps - s.stamps) for s in kept_up)
    return SubscriptionRun(
        subscribers=count,
        deflate=deflate,
        seconds=seconds,
        changes=len(stamps),
        latencies=[latency for s in subscribers for latency in s.latencies],
        watches=stats["apiserver"].get("watch pods", 0),
        rss_per_subscriber=(rss_after - rss_before) / count,
        lost=lost,
        cut_off=sum(1 for s in subscribers if s.errors),
        undelivered=sum(1 for s in subscribers if not s.errors and last not in s.stamps),
        connect_seconds=connect_seconds,
    )


def table(runs: list[SubscriptionRun]) -> Table:
    result = Table(
        f"Subscriptions: sandboxChanges over graphql-transport-ws, {CHANGES_PER_SECOND:g} pod "
        "changes/s, one server process",
        [
            "subscribers",
            "deflate",
            "seconds",
            "changes",
            "deliveries",
            "p50 ms",
            "p99 ms",
            "max ms",
            "pod watches",
            "KiB/subscriber",
            "lost (kept up)",
            "cut off",
            "late at end",
        ],
    )
    for run in runs:
        result.add(
            run.subscribers,
            "yes" if run.deflate else "no",
            run.seconds,
            run.changes,
            len(run.latencies),
            ms(percentile(run.latencies, 0.50)),
            ms(percentile(run.latencies, 0.99)),
            ms(max(run.latencies, default=float("nan"))),
            run.watches,
            run.rss_per_subscriber / 1024,
            run.lost,
            run.cut_off,
            run.undelivered,
        )
    result.notes += [
        "latency: PATCH sent (as admin, to the apiserver) -> the subscriber's receipt.",
        "deflate: whether the clients offer permessage-deflate, as browsers do (uvicorn's "
        "default accepts it; each message is then compressed once per connection).",
        "pod watches: pod watch requests the server process sent since it started.",
        "KiB/subscriber: server RSS with all subscribed minus RSS before the first (both after a "
        "garbage collection and malloc_trim), / subscribers.",
        "lost (kept up): changes missing at subscribers that were not cut off and had the last "
        f"change by the end of the drain ({DRAIN_SECONDS:g} s); late at end: subscribers still "
        "without the last change then (a server that cannot keep up).",
    ]
    return result


async def run(cluster: BenchCluster, plan: tuple[tuple[int, float, bool], ...] = PLAN) -> Table:
    runs = []
    for count, seconds, deflate in plan:
        progress(f"subscriptions: {count} subscribers for {seconds:g}s, deflate {deflate}")
        runs.append(await measure(cluster, count, seconds, deflate=deflate))
    return table(runs)


def main() -> None:
    run_alone(run)


if __name__ == "__main__":
    main()
