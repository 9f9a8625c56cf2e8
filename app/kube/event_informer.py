"""One list+watch of the pod events of the sandbox namespace per process, kept in memory.

Boot phases, timelines and diagnoses need a sandbox's events (Scheduled, Pulling, Pulled,
FailedScheduling, FailedCreatePodSandBox, BackOff, ...), and subscriptions need them for every
change of every sandbox. Fetching them per change would cost one apiserver request per change per
subscriber; watching them once costs one connection per replica, and then every read is local.

Kubernetes semantics that matter here:

- Events are namespaced objects of their own (``involvedObject`` names the pod), selectable by
  field (``involvedObject.kind=Pod``) but carrying none of the pod's labels, so the watch covers
  every pod's events in the namespace.
- A repeated occurrence updates the same Event object (``count``/``lastTimestamp``, or
  ``series`` for events.k8s.io writers): watchers see MODIFIED, not a new object.
- The apiserver deletes events after ``--event-ttl`` (one hour by default): the store stays
  bounded, and a long-lived sandbox may have lost its early events; derivations fall back to
  the pod's own conditions and timestamps.
- A pod name can be reused (idempotent creates use deterministic names), so readers filter by
  ``involvedObject.uid`` (:meth:`EventInformer.events_for`).

The list/watch/relist/backoff loop is the pod informer's (``app.kube.list_watch``).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any

from app.kube.convert import event_from_k8s
from app.kube.list_watch import ListWatchLoop
from app.kube.transport import KubeTransport, Query
from app.kube.watch import WatchEvent, list_objects, watch_objects
from app.models import Sandbox, SandboxEvent

log = logging.getLogger(__name__)

POD_EVENTS_SELECTOR = "involvedObject.kind=Pod"


def event_order(event: SandboxEvent) -> tuple[float, float]:
    """Oldest first: by first occurrence, then by last."""
    first = event.first_seen.timestamp() if event.first_seen else 0.0
    last = event.last_seen.timestamp() if event.last_seen else first
    return (first, last)


class EventInformer(ListWatchLoop):
    def __init__(
        self,
        transport: KubeTransport,
        namespace: str,
        *,
        watch_timeout_seconds: int = 300,
        max_backoff_seconds: float = 30.0,
    ) -> None:
        super().__init__(
            what="event",
            watch_timeout_seconds=watch_timeout_seconds,
            max_backoff_seconds=max_backoff_seconds,
        )
        self.transport = transport
        self.namespace = namespace
        self._path = f"/api/v1/namespaces/{namespace}/events"
        self._selectors: Query = [("fieldSelector", POD_EVENTS_SELECTOR)]
        # Event object name → (pod name, event); and per pod name, event object name → event.
        self._events: dict[str, tuple[str, SandboxEvent]] = {}
        self._by_pod: dict[str, dict[str, SandboxEvent]] = {}
        self.version = 0

    # -- reading ---------------------------------------------------------------------------

    def events_named(self, pod_name: str) -> list[SandboxEvent]:
        """Every stored event of pods named ``pod_name``, oldest first."""
        return sorted(self._by_pod.get(pod_name, {}).values(), key=event_order)

    def events_for(self, sandbox: Sandbox) -> list[SandboxEvent]:
        """The events of this very pod (by uid where known), oldest first."""
        return [
            event
            for event in self.events_named(sandbox.name)
            if not sandbox.uid or event.involved_uid in (None, sandbox.uid)
        ]

    # -- list/watch ------------------------------------------------------------------------

    def _watch(self, *, timeout_seconds: int) -> AsyncIterator[WatchEvent]:
        return watch_objects(
            self.transport,
            self._path,
            selectors=self._selectors,
            resource_version=self.resource_version,
            timeout_seconds=timeout_seconds,
            action="watch events",
        )

    async def _relist(self) -> None:
        items, resource_version = await list_objects(
            self.transport, self._path, selectors=self._selectors, action="list events"
        )
        self._events.clear()
        self._by_pod.clear()
        for item in items:
            self._put(item)
        self.resource_version = resource_version
        self._bump()
        self._mark_synced()

    def _apply(self, kind: str, obj: Mapping[str, Any]) -> None:
        self._track_resource_version(obj)
        metadata = obj.get("metadata") or {}
        if kind == "BOOKMARK":
            return
        if kind == "DELETED":
            self._remove(str(metadata.get("name", "")))
        else:
            self._put(obj)
        self._bump()

    def _put(self, obj: Mapping[str, Any]) -> None:
        name = (obj.get("metadata") or {}).get("name")
        event = event_from_k8s(obj)
        if not isinstance(name, str) or event.involved_name is None:
            return
        self._remove(name)
        self._events[name] = (event.involved_name, event)
        self._by_pod.setdefault(event.involved_name, {})[name] = event

    def _remove(self, name: str) -> None:
        known = self._events.pop(name, None)
        if known is None:
            return
        pod_events = self._by_pod.get(known[0])
        if pod_events is not None:
            pod_events.pop(name, None)
            if not pod_events:
                del self._by_pod[known[0]]

    def _bump(self) -> None:
        self.version += 1
        self._notify_changed()
