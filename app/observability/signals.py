"""SIGTERM under ``uvicorn app.server:app``: stop accepting, drain, then let uvicorn finish.

uvicorn (0.55) handles SIGTERM and SIGINT itself: it stops listening, closes every websocket at
once with 1012, waits for HTTP requests in flight (at most ``--timeout-graceful-shutdown``,
unbounded by default), runs the lifespan's shutdown, and finally re-raises the signal, so the
process exits by it (status -15). Nothing of the app runs before the websockets are gone.

So the lifespan puts :class:`SignalDrain` in front of uvicorn's handler. On the first SIGTERM or
SIGINT it

1. starts the deadline: ``Server.ShutdownTimeoutSeconds`` from the signal to the exit;
2. closes uvicorn's listening sockets: new connections are refused from here on (``/readyz``
   answers 503 on connections already open);
3. drains the websockets (``app.observability.shutdown``): every subscription gets its final
   message and ``complete``; queries and mutations on them finish;
4. sets uvicorn's graceful timeout to what is left of the deadline, less a reserve for the
   lifespan's shutdown (an explicit, smaller ``--timeout-graceful-shutdown`` is kept), and hands
   the signal to uvicorn, which closes the websockets (1012), waits for HTTP requests in flight,
   cancels what is still running at the deadline, and runs the lifespan's shutdown (informer and
   Kubernetes client closed, each bounded by the deadline).

A second signal goes straight to uvicorn (a second Ctrl-C quits at once). The handler is only
installed when uvicorn's own handler is the one in place (found as a bound method of
``uvicorn.Server``); under another server, or a test serving in-process without signal handling,
nothing changes and the lifespan's shutdown drains whatever is left.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from types import FrameType
from typing import Any

import uvicorn

from app.observability.shutdown import GracefulShutdown

log = logging.getLogger(__name__)

SIGNALS = (signal.SIGTERM, signal.SIGINT)
# Kept from the deadline for the lifespan's shutdown (informer, Kubernetes client), which
# uvicorn runs after its graceful timeout.
LIFESPAN_RESERVE_SECONDS = 1.0

Handler = Any  # what signal.getsignal returns: a callable, an int, or None


def _uvicorn_server(handler: Handler) -> uvicorn.Server | None:
    owner = getattr(handler, "__self__", None)
    return owner if isinstance(owner, uvicorn.Server) else None


class SignalDrain:
    def __init__(self, shutdown: GracefulShutdown) -> None:
        self.shutdown = shutdown
        self.server: uvicorn.Server | None = None
        self._previous: dict[int, Handler] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def installed(self) -> bool:
        return bool(self._previous)

    def install(self) -> bool:
        """Chain in front of uvicorn's signal handlers; False (and nothing done) without them."""
        if threading.current_thread() is not threading.main_thread():
            return False
        server = _uvicorn_server(signal.getsignal(signal.SIGTERM))
        if server is None:
            return False
        self.server = server
        self._loop = asyncio.get_running_loop()
        for signum in SIGNALS:
            previous = signal.getsignal(signum)
            if _uvicorn_server(previous) is server:
                self._previous[signum] = previous
                signal.signal(signum, self._on_signal)
        return True

    def uninstall(self) -> None:
        for signum, previous in self._previous.items():
            if signal.getsignal(signum) == self._on_signal:
                signal.signal(signum, previous)
        self._previous.clear()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        previous = self._previous.get(signum)
        if self._task is not None or self._loop is None or previous is None:
            if callable(previous):
                previous(signum, frame)
            return
        # A signal handler runs between two bytecodes of the loop's thread: only schedule.
        self._loop.call_soon_threadsafe(self._start, signum)

    def _start(self, signum: int) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._drain_then_exit(signum), name="graceful-shutdown"
            )

    async def _drain_then_exit(self, signum: int) -> None:
        server = self.server
        assert server is not None
        try:
            self.shutdown.begin()
            log.info(
                "%s received: refusing new connections, draining websocket operations",
                signal.Signals(signum).name,
                extra={"shutdown_timeout_seconds": self.shutdown.timeout},
            )
            for listener in getattr(server, "servers", ()):
                listener.close()
            drained = await self.shutdown.drain(
                timeout=max(0.0, self.shutdown.remaining() - LIFESPAN_RESERVE_SECONDS)
            )
            budget = max(0.0, self.shutdown.remaining() - LIFESPAN_RESERVE_SECONDS)
            configured = server.config.timeout_graceful_shutdown
            if configured is None or configured > budget:
                server.config.timeout_graceful_shutdown = budget  # type: ignore[assignment]
            log.info(
                "drained %d subscriptions and %d other websocket operations in %.3fs; "
                "waiting up to %.1fs for HTTP requests in flight",
                drained.subscriptions,
                drained.other,
                drained.seconds,
                server.config.timeout_graceful_shutdown,
                extra={"unfinished": drained.unfinished},
            )
        except Exception:
            log.exception("draining before shutdown failed; shutting down anyway")
        finally:
            previous = self._previous.get(signum)
            if callable(previous):
                previous(signum, None)
