"""What every resolver gets: the backend (service, informer, settings) and per-request helpers.

HTTP requests get a context each; a websocket connection gets one for all its operations. So
nothing here may cache data across operations: the events loader batches without caching.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.dataloader import DataLoader

from app.config import ServerSettings
from app.graphql.loaders import events_loader
from app.kube.informer import PodInformer
from app.models import SandboxEvent, Unavailable
from app.sandboxes.service import SandboxService

# How long a request waits for the informer's first list before answering UNAVAILABLE.
DEFAULT_STORE_SYNC_TIMEOUT_SECONDS = 10.0
# Log reads one request (or websocket connection) runs against the apiserver at a time.
LOG_READ_CONCURRENCY = 8


@dataclass(frozen=True, slots=True)
class Backend:
    """The running parts the API is served from; built by the server's lifespan."""

    service: SandboxService
    informer: PodInformer
    server: ServerSettings
    store_sync_timeout: float = DEFAULT_STORE_SYNC_TIMEOUT_SECONDS


@dataclass
class GraphQLContext:
    backend: Backend | None
    request: Request | WebSocket | None = None
    response: Response | WebSocket | None = None
    # Set by strawberry from a websocket's connection_init payload.
    connection_params: dict[str, Any] | None = None
    log_reads: asyncio.Semaphore = field(
        default_factory=lambda: asyncio.Semaphore(LOG_READ_CONCURRENCY)
    )
    _events_loader: DataLoader[str, list[SandboxEvent]] | None = field(
        default=None, init=False, repr=False
    )

    def _backend(self) -> Backend:
        if self.backend is None:
            raise Unavailable("the service is starting or shutting down; retry shortly")
        return self.backend

    @property
    def server(self) -> ServerSettings:
        return self._backend().server

    @property
    def informer(self) -> PodInformer:
        return self._backend().informer

    async def service(self) -> SandboxService:
        """The sandbox service, once its store holds the cluster's state (else UNAVAILABLE)."""
        backend = self._backend()
        if not backend.informer.synced:
            try:
                await backend.informer.wait_synced(timeout=backend.store_sync_timeout)
            except TimeoutError:
                raise Unavailable(
                    "the list of sandboxes is not loaded from Kubernetes yet; retry shortly"
                ) from None
        return backend.service

    @property
    def events_loader(self) -> DataLoader[str, list[SandboxEvent]]:
        if self._events_loader is None:
            self._events_loader = events_loader(self._backend().service)
        return self._events_loader
