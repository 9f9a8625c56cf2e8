"""What every resolver gets: the backend (service, informer, settings), the caller, and helpers.

HTTP requests get a context each; a websocket connection gets one for all its operations. So
nothing here may cache data across operations: the events loader batches without caching.

The caller (``principal``) was authenticated before any operation runs (``app.graphql.view``):
over HTTP from the ``Authorization`` header, over a websocket at ``connection_init``. It is
checked against the tokens file again on each use, so a revoked token stops working on
websockets that are already open. ``service()`` is the sandbox service *scoped to the caller*
(``app.auth.scoped``): resolvers never see another tenant's sandboxes unless they ask for the
unscoped service by name, which only cluster-wide facts (not sandboxes) should.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.dataloader import DataLoader

from app.auth import AccessControl, Principal, ScopedSandboxes
from app.auth.authenticator import MISSING
from app.config import ServerSettings
from app.graphql.loaders import events_loader
from app.kube.informer import PodInformer
from app.models import SandboxEvent, Unauthenticated, Unavailable
from app.sandboxes.runtime import LifecycleRuntime
from app.sandboxes.service import SandboxService

# How long a request waits for the informer's first list before answering UNAVAILABLE.
DEFAULT_STORE_SYNC_TIMEOUT_SECONDS = 10.0
# Log reads one request (or websocket connection) runs against the apiserver at a time.
LOG_READ_CONCURRENCY = 8
# Where the view leaves an HTTP request's principal: the ASGI scope's "state" (request.state).
PRINCIPAL_STATE_KEY = "principal"


@dataclass(frozen=True, slots=True)
class Backend:
    """The running parts the API is served from; built by the server's lifespan."""

    service: SandboxService
    informer: PodInformer
    server: ServerSettings
    access: AccessControl
    store_sync_timeout: float = DEFAULT_STORE_SYNC_TIMEOUT_SECONDS
    # Pod events, EXPIRING notices, capacity (issue 5); None only in tests that build no runtime.
    lifecycle: LifecycleRuntime | None = None


@dataclass
class GraphQLContext:
    backend: Backend | None
    request: Request | WebSocket | None = None
    response: Response | WebSocket | None = None
    # Set by strawberry from a websocket's connection_init payload.
    connection_params: dict[str, Any] | None = None
    # Set by the view when a websocket's connection_init authenticated (HTTP: request.state).
    authenticated: Principal | None = None
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

    @property
    def lifecycle(self) -> LifecycleRuntime | None:
        return self._backend().lifecycle

    @property
    def principal(self) -> Principal:
        """The caller, as the tokens file has it now; UNAUTHENTICATED if none or revoked."""
        backend = self._backend()
        principal = self.authenticated
        if principal is None and self.request is not None:
            state = self.request.scope.get("state") or {}
            found = state.get(PRINCIPAL_STATE_KEY)
            principal = found if isinstance(found, Principal) else None
        if principal is None:
            raise Unauthenticated(MISSING)
        return backend.access.authenticator.revalidate(principal)

    async def unscoped_service(self) -> SandboxService:
        """The whole service, once its store holds the cluster's state (else UNAVAILABLE).

        Not limited to the caller's tenant: use ``service()`` for anything about sandboxes.
        """
        backend = self._backend()
        if not backend.informer.synced:
            try:
                await backend.informer.wait_synced(timeout=backend.store_sync_timeout)
            except TimeoutError:
                raise Unavailable(
                    "the list of sandboxes is not loaded from Kubernetes yet; retry shortly"
                ) from None
        return backend.service

    async def service(self) -> ScopedSandboxes:
        """The sandbox service limited to what the caller may see and do."""
        principal = self.principal
        service = await self.unscoped_service()
        return ScopedSandboxes(service, principal, self._backend().access.quotas)

    @property
    def events_loader(self) -> DataLoader[str, list[SandboxEvent]]:
        # Keyed by the names of sandboxes a scoped query already returned.
        if self._events_loader is None:
            self._events_loader = events_loader(self._backend().service)
        return self._events_loader
