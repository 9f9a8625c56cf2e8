"""Startup: process start to ``/readyz`` 200, with 1,000 and 10,000 existing sandboxes.

The process is production's: ``python -m uvicorn app.server:app`` with the kata-manager
kubeconfig in ``KUBECONFIG``, settings from the environment. ``/readyz`` answers 200 once the
informer has listed every sandbox pod, so the time covers interpreter start and imports, the
Kubernetes client, the list of all pods (one request, converted into the store and its sorted
index) and the start of the watch. Each size is started ``REPEATS`` times; the median is shown,
with the time until the process answered ``/healthz`` at all and its RSS once ready.

``python -m bench.startup`` runs this alone on a control plane of its own.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from dataclasses import dataclass

from bench.cluster import BenchCluster, run_alone
from bench.common import (
    Table,
    median,
    progress,
    rss_bytes,
    spawn,
    terminate,
)
from bench.loadgen import build_request, fetch
from bench.server import write_tokens_file
from devcluster.cluster import free_port

SIZES = (100, 1_000, 10_000)
REPEATS = 3
POLL_SECONDS = 0.01
TIMEOUT_SECONDS = 120.0


@dataclass
class StartupRun:
    size: int
    serving: list[float]
    ready: list[float]
    rss: list[int]


async def _status(port: int, path: str) -> int | None:
    try:
        status, _ = await fetch(port, build_request("GET", path, port=port))
    except OSError:
        return None
    return status


async def start_once(cluster: BenchCluster) -> tuple[float, float, int]:
    """Seconds to /healthz, seconds to /readyz 200, RSS once ready."""
    port = free_port()
    tokens = write_tokens_file(cluster.workdir / "startup-tokens.json", "ksa_startup-bench")
    env = os.environ | {
        "KUBECONFIG": str(cluster.manager_kubeconfig),
        "Server__ApiTokensPath": str(tokens),
        "Server__LogLevel": "WARNING",
    }
    argv = [sys.executable, "-m", "uvicorn", "app.server:app", "--host", "127.0.0.1"]
    argv += ["--port", str(port), "--log-level", "warning"]
    started = time.perf_counter()
    process = spawn(argv, env=env, log=cluster.workdir / "startup-server.log")
    serving: float | None = None
    try:
        async with asyncio.timeout(TIMEOUT_SECONDS):
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"the server exited with {process.returncode}")
                status = await _status(port, "/readyz")
                now = time.perf_counter() - started
                if status is not None and serving is None:
                    serving = now
                if status == 200:
                    return serving or now, now, rss_bytes(process.pid)
                await asyncio.sleep(POLL_SECONDS)
    finally:
        terminate(process)


async def measure(cluster: BenchCluster, size: int) -> StartupRun:
    result = StartupRun(size=size, serving=[], ready=[], rss=[])
    for _ in range(REPEATS):
        serving, ready, rss = await start_once(cluster)
        result.serving.append(serving)
        result.ready.append(ready)
        result.rss.append(rss)
    return result


def table(runs: list[StartupRun]) -> Table:
    result = Table(
        f"Startup: `uvicorn app.server:app` to /readyz 200 (median of {REPEATS})",
        ["sandboxes", "serving s", "ready s", "min ready s", "max ready s", "RSS ready MiB"],
    )
    for run in runs:
        result.add(
            run.size,
            median(run.serving),
            median(run.ready),
            min(run.ready),
            max(run.ready),
            median([float(r) for r in run.rss]) / 2**20,
        )
    result.notes.append(
        "serving: the first answer to /readyz (503 while the informer lists); ready: 200."
    )
    by_size = {run.size: median(run.ready) for run in runs}
    if 1_000 in by_size and 10_000 in by_size:
        extra = by_size[10_000] - by_size[1_000]
        result.notes.append(
            f"each 1,000 sandboxes more cost {extra / 9 * 1000:.0f} ms of startup "
            "(listing, converting and indexing)."
        )
    return result


async def run(cluster: BenchCluster, sizes: tuple[int, ...] = SIZES) -> Table:
    runs = []
    for size in sizes:
        await cluster.populate(size)
        progress(f"startup with {size:,} sandboxes")
        runs.append(await measure(cluster, size))
    return table(runs)


def main() -> None:
    run_alone(run)


if __name__ == "__main__":
    main()
