"""The ASGI application: ``uvicorn app.server:app``.

Routes
    ``/graphql``  POST and GET (GET runs queries only), GraphiQL for a browser (GET with
                  ``Accept: text/html``), websockets speaking ``graphql-transport-ws`` and the
                  legacy ``graphql-ws``.
    ``/healthz``  200 while the process serves.
    ``/readyz``   200 once the informer has listed the sandboxes (the store is the cluster's
                  state), 503 before that and while shutting down.
    ``/``         redirects to ``/graphql``.

Settings come from ``appsettings.json`` and the environment (``app.config``); the Kubernetes
client from ``Kubernetes.KubeconfigPath``, else in-cluster, else ``KUBECONFIG``/``~/.kube/config``.
Nothing touches the cluster before the lifespan starts, so importing this module is free.

Websocket origins (``Server.AllowedWebsocketOrigins``): a browser always sends ``Origin`` on a
websocket handshake and attaches its cookies, so cross-site pages are refused unless listed
(``*`` allows any). With the default empty list only same-origin pages (GraphiQL served here) and
non-browser clients (no ``Origin`` header) may connect; others get HTTP 403.

Shutdown (SIGTERM): uvicorn stops accepting connections, closes open websockets with 1012
("service restart", which graphql-ws clients retry, reaching another replica), lets HTTP requests
in flight finish, then runs the lifespan's shutdown: the informer stops (any subscription still
running completes) and the Kubernetes client is closed. Every subscription releases its informer
subscription and tasks as its connection goes.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.http.websocket_origin import normalize_allowed_origins

from app.config import AppSettings, load_settings
from app.graphql.context import DEFAULT_STORE_SYNC_TIMEOUT_SECONDS, Backend, GraphQLContext
from app.graphql.limits import MAX_OPERATIONS_PER_CONNECTION
from app.graphql.schema import schema
from app.kube.client import create_api_client
from app.kube.informer import PodInformer
from app.kube.pods import PodRepository
from app.kube.transport import KubeTransport
from app.sandboxes.service import SandboxService

log = logging.getLogger(__name__)

KEEP_ALIVE_SECONDS = 15.0


@dataclass
class Runtime:
    """What the lifespan started; ``backend`` is None before startup and after shutdown."""

    backend: Backend | None = None


class SandboxGraphQL(GraphQL[GraphQLContext, None]):
    def __init__(self, runtime: Runtime) -> None:
        super().__init__(
            schema,
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


def _configure_logging(level: str) -> None:
    if not logging.getLogger().handlers:
        logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("app").setLevel(level)


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

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        loaded = settings if settings is not None else load_settings()
        _configure_logging(loaded.server.log_level)
        graphql.allowed_origins = normalize_allowed_origins(loaded.server.allowed_websocket_origins)
        api = await create_api_client(kubeconfig=_kubeconfig(loaded, kubeconfig))
        try:
            repository = PodRepository(KubeTransport(api), loaded.kubernetes.target_namespace)
            informer = PodInformer(repository)
            informer.start()
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
                    store_sync_timeout=store_sync_timeout,
                )
                log.info("serving sandboxes of namespace %s", loaded.kubernetes.target_namespace)
                yield
            finally:
                runtime.backend = None
                await informer.stop()
        finally:
            await api.close()

    async def healthz(_: Request) -> Response:
        return PlainTextResponse("ok")

    async def readyz(_: Request) -> Response:
        backend = runtime.backend
        if backend is not None and backend.informer.synced:
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
            Route("/", root, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    return app


app = create_app()
