"""The ASGI application: ``uvicorn app.server:app``.

Routes
    ``/graphql``  POST and GET (GET runs queries only), GraphiQL for a browser (GET with
                  ``Accept: text/html``), websockets speaking ``graphql-transport-ws`` and the
                  legacy ``graphql-ws``.
    ``/healthz``  200 while the process serves.
    ``/readyz``   200 once the informer has listed the sandboxes (the store is the cluster's
                  state), 503 before that and while shutting down.
    ``/metrics``  Prometheus metrics of this app (``app.observability.metrics``).
    ``/``         redirects to ``/graphql``.

Settings come from ``appsettings.json`` and the environment (``app.config``); the Kubernetes
client from ``Kubernetes.KubeconfigPath``, else in-cluster, else ``KUBECONFIG``/``~/.kube/config``.
Nothing touches the cluster before the lifespan starts, so importing this module is free.

Websocket origins (``Server.AllowedWebsocketOrigins``): a browser always sends ``Origin`` on a
websocket handshake and attaches its cookies, so cross-site pages are refused unless listed
(``*`` allows any). With the default empty list only same-origin pages (GraphiQL served here) and
non-browser clients (no ``Origin`` header) may connect; others get HTTP 403.

Shutdown (SIGTERM, ``app.observability.signals``): listening stops, every subscription gets a
final UNAVAILABLE "server shutting down" result and ``complete``, then uvicorn closes the
websockets with 1012 ("service restart", which graphql-ws clients retry, reaching another
replica), lets HTTP requests in flight finish, and runs the lifespan's shutdown: the lifecycle
runtime (event watch, reaper; its Lease released) and the informer stop and the Kubernetes client
is closed. All within ``Server.ShutdownTimeoutSeconds``.

Every request runs with a request id (``X-Request-ID``) in its log lines, which are JSON
(``app.observability.logs``).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket
from strawberry.http.websocket_origin import normalize_allowed_origins

from app.auth import AccessControl
from app.config import AppSettings, load_settings
from app.graphql.context import DEFAULT_STORE_SYNC_TIMEOUT_SECONDS, Backend, GraphQLContext
from app.graphql.limits import MAX_OPERATIONS_PER_CONNECTION
from app.graphql.schema import schema
from app.graphql.view import SecureGraphQL
from app.kube.client import create_api_client
from app.kube.informer import PodInformer
from app.kube.pods import PodRepository
from app.kube.transport import KubeTransport
from app.observability.middleware import RequestContextMiddleware
from app.observability.runtime import Observability
from app.sandboxes.runtime import LifecycleRuntime
from app.sandboxes.service import SandboxService

log = logging.getLogger(__name__)

KEEP_ALIVE_SECONDS = 15.0


@dataclass
class Runtime:
    """What the lifespan started; ``backend`` is None before startup and after shutdown."""

    backend: Backend | None = None


class SandboxGraphQL(SecureGraphQL):
    """Authentication and request size limits: ``app.graphql.view``."""

    def __init__(self, runtime: Runtime) -> None:
        super().__init__(
            schema,
            backend=lambda: runtime.backend,
            graphql_ide="graphiql",
            allow_queries_via_get=True,
            keep_alive=True,
            keep_alive_interval=KEEP_ALIVE_SECONDS,
            max_subscriptions_per_connection=MAX_OPERATIONS_PER_CONNECTION,
        )
        self.runtime = runtime

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> GraphQLContext:
        return GraphQLContext(backend=self.runtime.backend, request=request, response=response)


def _kubeconfig(settings: AppSettings, explicit: str | None) -> str | None:
    if explicit is not None:
        return explicit
    path = settings.kubernetes.kubeconfig_path
    return str(path) if path is not None else None


def create_app(
    settings: AppSettings | None = None,
    *,
    kubeconfig: str | None = None,
    store_sync_timeout: float = DEFAULT_STORE_SYNC_TIMEOUT_SECONDS,
    name_factory: Callable[[str], str] | None = None,
) -> Starlette:
    """The application; ``settings`` default to ``load_settings()`` at startup.

    ``kubeconfig`` overrides ``Kubernetes.KubeconfigPath``; ``name_factory`` (pod names from the
    prefix) is the service's, for tests that need name collisions.
    """
    runtime = Runtime()
    graphql = SandboxGraphQL(runtime)
    observability = Observability()

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        loaded = settings if settings is not None else load_settings()
        observability.configure(loaded.server)
        graphql.allowed_origins = normalize_allowed_origins(loaded.server.allowed_websocket_origins)
        api = await create_api_client(kubeconfig=_kubeconfig(loaded, kubeconfig))
        try:
            repository = PodRepository(KubeTransport(api), loaded.kubernetes.target_namespace)
            informer = PodInformer(repository)
            informer.start()
            observability.start(informer)
            # Pod events, EXPIRING notices, capacity, and the reaper on the elected replica.
            lifecycle = LifecycleRuntime(
                repository.transport, repository, informer, loaded.kubernetes, loaded.lifecycle
            )
            lifecycle.start()
            try:
                runtime.backend = Backend(
                    service=(
                        SandboxService(repository, informer, loaded.kubernetes)
                        if name_factory is None
                        else SandboxService(
                            repository, informer, loaded.kubernetes, name_factory=name_factory
                        )
                    ),
                    informer=informer,
                    server=loaded.server,
                    access=AccessControl.from_settings(loaded.server),
                    store_sync_timeout=store_sync_timeout,
                    lifecycle=lifecycle,
                )
                log.info("serving sandboxes of namespace %s", loaded.kubernetes.target_namespace)
                yield
            finally:
                await observability.stop(informer)
                runtime.backend = None
                # Releases the reaper's Lease, so another replica takes over at once.
                await observability.within_deadline(lifecycle.stop(), "stopping the lifecycle")
                await observability.within_deadline(informer.stop(), "stopping the informer")
        finally:
            await observability.within_deadline(api.close(), "closing the Kubernetes client")
            observability.log_stopped()

    async def healthz(_: Request) -> Response:
        return PlainTextResponse("ok")

    async def readyz(_: Request) -> Response:
        backend = runtime.backend
        if backend is not None and backend.informer.synced and observability.ready:
            return JSONResponse({"status": "ready"})
        return JSONResponse({"status": "not ready"}, status_code=503)

    async def root(_: Request) -> Response:
        return RedirectResponse("/graphql")

    app = Starlette(
        routes=[
            Route("/graphql", graphql),
            WebSocketRoute("/graphql", graphql),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/metrics", observability.metrics_endpoint, methods=["GET"]),
            Route("/", root, methods=["GET"]),
        ],
        lifespan=lifespan,
        middleware=[Middleware(RequestContextMiddleware, observability=observability)],
    )
    app.state.runtime = runtime
    app.state.observability = observability
    return app


app = create_app()
