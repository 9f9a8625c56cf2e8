"""The list/watch/relist loop shared by the pod and event informers.

- **List, then watch from the list's resourceVersion**; a watch that ends (its jittered
  ``timeoutSeconds``, or a dropped connection) resumes from the last resourceVersion seen, so
  nothing in between is lost. Started again after ``stop()`` it resumes the same way.
- **410 Gone** (:class:`ResourceExpired`) means that history is gone: relist at once.
- Any other failure backs off with full jitter, capped at ``max_backoff_seconds``.

Subclasses say what a list and a watch event do to their store (``_relist``, ``_apply``) and
which watch to open (``_watch``); readers wait on :meth:`wait_synced` and :meth:`wait_until`,
which wake whenever a subclass calls :meth:`_notify_changed`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from app.kube.errors import ResourceExpired
from app.kube.watch import WatchEvent

log = logging.getLogger(__name__)


class ListWatchLoop:
    def __init__(
        self, *, what: str, watch_timeout_seconds: int = 300, max_backoff_seconds: float = 30.0
    ) -> None:
        self.what = what
        self.watch_timeout_seconds = watch_timeout_seconds
        self.max_backoff_seconds = max_backoff_seconds
        self.resource_version = ""
        self.relists = 0
        self._synced = asyncio.Event()
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    # -- what a subclass provides ----------------------------------------------------------

    async def _relist(self) -> None:
        """Replace the store with a fresh list; set resource_version; call _mark_synced()."""
        raise NotImplementedError

    def _watch(self, *, timeout_seconds: int) -> AsyncIterator[WatchEvent]:
        raise NotImplementedError

    def _apply(self, kind: str, obj: Mapping[str, Any]) -> None:
        raise NotImplementedError

    # -- readers ---------------------------------------------------------------------------

    @property
    def synced(self) -> bool:
        return self._synced.is_set()

    async def wait_synced(self, *, timeout: float | None = None) -> None:
        async with asyncio.timeout(timeout):
            await self._synced.wait()

    async def wait_until(self, predicate: Callable[[], bool], *, timeout: float | None) -> bool:
        """Wait until ``predicate()`` holds for the store; False when ``timeout`` runs out."""
        try:
            async with asyncio.timeout(timeout):
                while not predicate():
                    await self._changed.wait()
        except TimeoutError:
            return predicate()
        return True

    def _notify_changed(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    def _mark_synced(self) -> None:
        self.relists += 1
        self._synced.set()

    def _track_resource_version(self, obj: Mapping[str, Any]) -> None:
        resource_version = (obj.get("metadata") or {}).get("resourceVersion")
        if isinstance(resource_version, str) and resource_version:
            self.resource_version = resource_version

    # -- running ---------------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"{self.what}-informer")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        failures = 0
        need_list = not self.resource_version
        while True:
            try:
                if need_list:
                    await self._relist()
                    need_list = False
                timeout = int(self.watch_timeout_seconds * random.uniform(0.8, 1.2))
                async for event in self._watch(timeout_seconds=timeout):
                    self._apply(event.type, event.object)
                    failures = 0
            except asyncio.CancelledError:
                raise
            except ResourceExpired:
                log.info("%s watch expired at %s; relisting", self.what, self.resource_version)
                need_list = True
            except Exception:
                failures += 1
                delay = random.uniform(0, min(self.max_backoff_seconds, 0.25 * 2**failures))
                log.warning(
                    "%s list/watch failed (attempt %d); retrying in %.1fs",
                    self.what,
                    failures,
                    delay,
                    exc_info=True,
                )
                await asyncio.sleep(delay)
