"""The API server under test, in a process of its own: ``python -m bench.server --port P ...``.

It serves the real application (``app.server.create_app``) under uvicorn with production's
defaults (uvloop, httptools, the ``websockets`` implementation; access log off), acting as the
kata-manager ServiceAccount, plus a few routes for the benchmarks:

``POST /bench/raw``
    The same JSON bytes as the dashboard query's GraphQL answer, built per request from the same
    store by a plain Starlette route with ``json.dumps``: what the request costs without GraphQL.
``GET /bench/static``
    Those bytes computed once: the HTTP stack's own ceiling.
``GET /bench/stats``
    Requests this process made to the apiserver (every ``ApiClient.call_api`` in the process is
    counted, as ``<METHOD> <resource>`` or ``watch <resource>``), the store's size and version,
    informer subscribers, response cache hits and misses, RSS.
``POST /bench/cache/on``, ``POST /bench/cache/off``
    Turn the GraphQL response cache on or off, to measure executions side by side.

:class:`ServerProcess` is the benchmark's handle on such a process.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import cProfile
import ctypes
import gc
import hashlib
import json
import os
import resource
import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import httpx
from kubernetes_asyncio.client import ApiClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.graphql.scalars import serialize_datetime
from app.models import Sandbox
from bench.common import rss_bytes, spawn, terminate

READY_TIMEOUT_SECONDS = 120.0
DASHBOARD_PAGE = 50

# -- apiserver request counting (in the server process) ---------------------------------------

_calls: collections.Counter[str] = collections.Counter()


def _count_api_calls() -> None:
    original: Callable[..., Any] = ApiClient.call_api

    async def counted(
        self: ApiClient, resource_path: str, method: str, *args: Any, **kw: Any
    ) -> Any:
        query = dict(kw.get("query_params") or (args[1] if len(args) > 1 else None) or [])
        verb = "watch" if str(query.get("watch", "")).lower() == "true" else method.upper()
        _calls[f"{verb} {_resource(resource_path)}"] += 1
        return await original(self, resource_path, method, *args, **kw)

    ApiClient.call_api = counted  # type: ignore[method-assign]


def _resource(path: str) -> str:
    """``pods``, ``events``, ``leases``... from an apiserver path."""
    parts = [part for part in path.split("/") if part]
    if "namespaces" in parts:
        index = parts.index("namespaces")
        rest = parts[index + 2 :]
        return rest[0] if rest else "namespaces"
    return parts[-1] if parts else "?"


# -- profiling: BENCH_PROFILE=path cProfiles the server; GET /bench/profile writes the stats ------

_PROFILE = os.environ.get("BENCH_PROFILE", "")
_profiler = cProfile.Profile()


# -- garbage collection time (in the server process) ------------------------------------------

_gc_seconds: dict[str, float] = collections.defaultdict(float)


def _time_gc() -> None:
    started: list[float] = [0.0]

    def callback(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            _gc_seconds[f"gen{info['generation']}"] += time.perf_counter() - started[0]

    gc.callbacks.append(callback)


def _release_free_memory() -> None:
    """Collect garbage and hand free heap back to the OS, so that RSS counts what is in use.

    Without it, memory freed earlier (e.g. the decoded list of 10,000 pods at startup) stays
    in the heap and is reused, and RSS would not grow with what a benchmark adds.
    """
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


# -- the dashboard's answer without GraphQL ----------------------------------------------------


def _amounts(amounts: Any) -> dict[str, Any]:
    return {"memoryMi": amounts.memory_mi, "cpuMillicores": amounts.cpu_millicores}


def dashboard_node(sandbox: Sandbox, boot: str | None) -> dict[str, Any]:
    """The fields of ``queries.DASHBOARD_QUERY``, as GraphQL would spell them."""
    node: dict[str, Any] = {
        "name": sandbox.name,
        "phase": sandbox.phase.name,
        "ready": sandbox.ready,
    }
    if boot is not None:
        node["bootPhase"] = boot
    return node | {
        "labels": [{"key": label.key, "value": label.value} for label in sandbox.labels],
        "resources": {
            "requests": _amounts(sandbox.resources.requests),
            "limits": _amounts(sandbox.resources.limits),
        },
        "createdAt": serialize_datetime(sandbox.created_at),
    }


def boot_phase_of(backend: Any, sandbox: Sandbox) -> str | None:
    """As ``Sandbox.bootPhase`` resolves it; None if this version has no boot phases."""
    try:
        from app.sandboxes.boot import boot_phase
    except ImportError:
        return None
    lifecycle = getattr(backend, "lifecycle", None)
    events = lifecycle.events_for(sandbox) if lifecycle is not None else []
    return boot_phase(sandbox, events).name


def dashboard_answer(app: Starlette, *, with_boot_phase: bool) -> bytes:
    backend = app.state.runtime.backend
    page = backend.service.page(None, first=DASHBOARD_PAGE)
    body = {
        "data": {
            "sandboxes": {
                "totalCount": page.total,
                "pageInfo": {"hasNextPage": page.has_next},
                "edges": [
                    {
                        "node": dashboard_node(
                            sandbox, boot_phase_of(backend, sandbox) if with_boot_phase else None
                        )
                    }
                    for sandbox in page.sandboxes
                ],
            }
        }
    }
    return json.dumps(body, separators=(",", ":")).encode()


def _graphql_view(app: Starlette) -> Any:
    for route in app.router.routes:
        if isinstance(route, Route) and route.path == "/graphql":
            return route.app
    raise LookupError("no /graphql route")


def bench_routes(app: Starlette) -> list[Route]:
    static: list[bytes] = []
    view = _graphql_view(app)
    cache = getattr(view, "response_cache", None)

    async def raw(request: Request) -> Response:
        boot = b"bootPhase" in await request.body()
        return Response(dashboard_answer(app, with_boot_phase=boot), media_type="application/json")

    async def static_bytes(request: Request) -> Response:
        if not static:
            boot = request.query_params.get("boot") == "1"
            static.append(dashboard_answer(app, with_boot_phase=boot))
        return Response(static[0], media_type="application/json")

    async def cache_on(_: Request) -> Response:
        view.response_cache = cache
        return JSONResponse({"cache": cache is not None})

    async def profile(_: Request) -> Response:
        if _PROFILE:
            _profiler.dump_stats(_PROFILE)
        return JSONResponse({"profile": _PROFILE})

    async def cache_off(_: Request) -> Response:
        view.response_cache = None
        return JSONResponse({"cache": False})

    async def stats(request: Request) -> Response:
        if request.query_params.get("trim") == "1":
            _release_free_memory()
        backend = app.state.runtime.backend
        informer = backend.informer if backend is not None else None
        return JSONResponse(
            {
                "apiserver": dict(_calls),
                "apiserver_total": sum(_calls.values()),
                "store": len(informer.store) if informer else 0,
                "version": informer.version if informer else 0,
                "subscribers": informer.subscriber_count if informer else 0,
                "cache_hits": getattr(cache, "hits", 0),
                "cache_misses": getattr(cache, "misses", 0),
                "tasks": len(asyncio.all_tasks()),
                "rss": rss_bytes(),
                "gc_seconds": dict(_gc_seconds),
            }
        )

    return [
        Route("/bench/raw", raw, methods=["POST"]),
        Route("/bench/static", static_bytes, methods=["GET"]),
        Route("/bench/stats", stats, methods=["GET"]),
        Route("/bench/cache/on", cache_on, methods=["POST"]),
        Route("/bench/cache/off", cache_off, methods=["POST"]),
        Route("/bench/profile", profile, methods=["GET"]),
    ]


def server_settings(tokens: str | None, overrides: Mapping[str, Any]) -> Any:
    """Production's settings, with the benchmark's tokens file and no per-tenant limits (the
    benchmarks act as one admin and hold up to 1,000 subscriptions). Settings this version of
    the service does not have are left out."""
    from app.config import ServerSettings

    wanted: dict[str, Any] = {
        "log_level": "WARNING",
        "api_tokens_path": tokens,
        "max_subscriptions_per_tenant": None,
        "max_sandboxes_per_tenant": None,
        **overrides,
    }
    known = ServerSettings.model_fields
    return ServerSettings(**{key: value for key, value in wanted.items() if key in known})


def build_app(kubeconfig: str, tokens: str | None, overrides: Mapping[str, Any]) -> Starlette:
    from app.config import AppSettings, KubernetesSettings
    from app.server import create_app

    settings = AppSettings(
        kubernetes=KubernetesSettings(), server=server_settings(tokens, overrides)
    )
    app = create_app(settings, kubeconfig=kubeconfig)
    app.router.routes[:0] = bench_routes(app)
    return app


def _raise_file_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--tokens", help="the API tokens file")
    parser.add_argument("--settings", default="{}", help="ServerSettings overrides, as JSON")
    args = parser.parse_args()
    _raise_file_limit()
    _count_api_calls()
    _time_gc()
    if _PROFILE:
        _profiler.enable()
    uvicorn.run(
        build_app(args.kubeconfig, args.tokens, json.loads(args.settings)),
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        access_log=False,
        ws_max_queue=32,
        backlog=4096,
    )


# -- the benchmark's side ----------------------------------------------------------------------


def write_tokens_file(path: Path, token: str) -> Path:
    """One admin token (tenant ``bench``), in the format of ``app.auth.tokens``."""
    entry = {"id": "bench", "sha256": hashlib.sha256(token.encode()).hexdigest()}
    entry |= {"tenant": "bench", "role": "admin"}
    path.write_text(json.dumps({"tokens": [entry]}))
    path.chmod(0o600)
    return path


class ServerProcess:
    """A ``bench.server`` child process; ``await start()``, then ``stats()``, ``stop()``.

    Requests authenticate with ``headers`` (a Bearer token of the tokens file it writes).
    """

    def __init__(
        self,
        kubeconfig: Path,
        port: int,
        *,
        settings: Mapping[str, Any] | None = None,
    ) -> None:
        self.kubeconfig = kubeconfig
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.settings = dict(settings or {})
        self.token = "ksa_" + secrets.token_urlsafe(32)
        self.tokens_file = write_tokens_file(kubeconfig.parent / f"tokens-{port}.json", self.token)
        self.headers = {"Authorization": f"Bearer {self.token}"}
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    async def start(self) -> None:
        self.log_path = self.kubeconfig.parent / f"bench-server-{self.port}.log"
        self.process = spawn(
            [
                sys.executable,
                "-m",
                "bench.server",
                f"--kubeconfig={self.kubeconfig}",
                f"--port={self.port}",
                f"--tokens={self.tokens_file}",
                f"--settings={json.dumps(self.settings)}",
            ],
            log=self.log_path,
        )
        async with httpx.AsyncClient(base_url=self.url) as client:
            async with asyncio.timeout(READY_TIMEOUT_SECONDS):
                while True:
                    if self.process.poll() is not None:
                        raise RuntimeError(
                            f"bench.server exited with {self.process.returncode}; "
                            f"see {self.log_path}"
                        )
                    try:
                        if (await client.get("/readyz")).status_code == 200:
                            return
                    except httpx.TransportError:
                        pass
                    await asyncio.sleep(0.05)

    async def post(self, path: str) -> None:
        async with httpx.AsyncClient(base_url=self.url, timeout=30) as client:
            (await client.post(path)).raise_for_status()

    async def get(self, path: str) -> None:
        async with httpx.AsyncClient(base_url=self.url, timeout=120) as client:
            (await client.get(path)).raise_for_status()

    async def stats(self, *, trim: bool = False) -> dict[str, Any]:
        """The server's figures; ``trim`` first releases free memory (see RSS above)."""
        async with httpx.AsyncClient(base_url=self.url, timeout=30) as client:
            path = "/bench/stats?trim=1" if trim else "/bench/stats"
            response = await client.get(path, headers=self.headers)
            response.raise_for_status()
            result: dict[str, Any] = response.json()
            return result

    def stop(self) -> None:
        if self.process is not None:
            terminate(self.process, timeout=60)


if __name__ == "__main__":
    main()
