"""One app's observability: its metrics registry, its graceful shutdown, and their wiring.

``create_app`` builds one :class:`Observability` per app; the lifespan calls :meth:`start` once
the informer exists and :meth:`stop` when it ends; the schema hands every websocket operation's
stream to :func:`observe_stream`. See the sibling modules for what each part does and why.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import Response

from app.config import ServerSettings
from app.kube.informer import PodInformer
from app.observability.context import CONNECTION_ID, CURRENT, REQUEST_ID, new_request_id
from app.observability.informer import BootTimes, InformerCollector
from app.observability.logs import configure_logging
from app.observability.metrics import Metrics
from app.observability.shutdown import GracefulShutdown, Stream, is_subscription
from app.observability.signals import SignalDrain

log = logging.getLogger(__name__)


class Observability:
    def __init__(self) -> None:
        self.metrics = Metrics()
        self.informer_collector = InformerCollector()
        self.metrics.registry.register(self.informer_collector)
        self.shutdown = GracefulShutdown()
        self.signals = SignalDrain(self.shutdown)
        self.boot_times: BootTimes | None = None

    def configure(self, server: ServerSettings) -> None:
        """Logging and the shutdown deadline from the settings; first thing at startup."""
        configure_logging(server.log_level, server.log_format)
        self.shutdown.timeout = server.shutdown_timeout_seconds

    def start(self, informer: PodInformer) -> None:
        self.informer_collector.informer = informer
        self.boot_times = BootTimes(self.metrics.boot_duration, synced=lambda: informer.synced)
        informer.observers.append(self.boot_times)
        if self.signals.install():
            log.debug("SIGTERM/SIGINT drain installed in front of uvicorn's handlers")

    async def stop(self, informer: PodInformer) -> None:
        """The lifespan's shutdown: drain what uvicorn left (nothing, after a signal)."""
        drained = await self.shutdown.drain()
        if drained.subscriptions or drained.other:
            log.info(
                "drained %d subscriptions and %d other websocket operations at shutdown",
                drained.subscriptions,
                drained.other,
            )
        self.signals.uninstall()
        if self.boot_times in informer.observers:
            informer.observers.remove(self.boot_times)
        self.informer_collector.informer = None

    async def within_deadline(self, step: Awaitable[None], what: str) -> None:
        """Await a shutdown step, abandoning it when the shutdown deadline passes."""
        try:
            async with asyncio.timeout(self.shutdown.remaining()):
                await step
        except TimeoutError:
            log.warning("%s did not finish before the shutdown deadline", what)

    def log_stopped(self) -> None:
        started = self.shutdown.deadline
        elapsed = time.monotonic() - (started - self.shutdown.timeout) if started else 0.0
        log.info(
            "shut down: pod watch stopped, Kubernetes client closed",
            extra={"shutdown_seconds": round(elapsed, 3)},
        )

    @property
    def ready(self) -> bool:
        """False from the moment shutdown starts: load balancers stop sending requests."""
        return not self.shutdown.stopping

    async def metrics_endpoint(self, _: Request) -> Response:
        return Response(generate_latest(self.metrics.registry), media_type=CONTENT_TYPE_LATEST)


def observe_stream(source: Stream, query: str | None, operation_name: str | None) -> Stream:
    """What the schema returns to a websocket handler instead of ``source``.

    On a websocket each operation gets a request id of its own (its log lines also carry the
    connection's id); with an app serving it, the stream is tracked for the graceful shutdown.
    """
    if CONNECTION_ID.get() is not None:
        REQUEST_ID.set(new_request_id())
    observability = CURRENT.get()
    if observability is None:
        return source
    return observability.shutdown.track(source, subscription=is_subscription(query, operation_name))
