"""Pods of the sandbox namespace: create, read, delete, logs and events.

Deletion semantics worth knowing:

- A pod bound to a node is deleted *gracefully*: the apiserver only sets
  ``metadata.deletionTimestamp`` (watchers see MODIFIED, the pod shows as Terminating) and the
  node's agent removes the object once the containers have stopped, or the grace period has run
  out. ``gracePeriodSeconds=0`` ("force") removes the object at once, without waiting for the node.
- A pod that was never scheduled, or has finished, has nothing to stop and is removed at once.
- DeleteOptions ``preconditions`` make a delete conditional: ``uid`` on one pod only, not a newer
  pod created under the same name in between (idempotent creates reuse names); ``resourceVersion``
  on the pod as it was read. A pod already being deleted can be deleted again (200), so only the
  version makes "delete exactly once" checkable.

Annotations change by a JSON merge patch (``application/merge-patch+json``): keys given are set,
keys given as null removed, all others kept. A ``metadata.resourceVersion`` in the patch turns it
into a compare-and-swap: 409 if the pod has changed since that version.

Logs are served by the node's kubelet and proxied by the apiserver, so they exist only once a
container has started; a 400 "waiting to start"/"ContainerCreating" is the kubelet saying so.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

from app.kube.convert import event_from_k8s, sandbox_from_pod
from app.kube.ownership import MANAGED_POD_SELECTOR, SANDBOX_CONTAINER_NAME
from app.kube.transport import KubeTransport
from app.kube.watch import WatchEvent, list_objects, watch_objects
from app.models import NotFound, Sandbox, SandboxError, SandboxEvent

__all__ = ["LogOptions", "PodRepository", "WatchEvent"]


@dataclass(frozen=True, slots=True)
class LogOptions:
    container: str = SANDBOX_CONTAINER_NAME
    tail_lines: int | None = None
    since_seconds: int | None = None
    previous: bool = False
    timestamps: bool = False

    def query(self, *, follow: bool) -> list[tuple[str, str | int | bool]]:
        query: list[tuple[str, str | int | bool]] = [("container", self.container)]
        if self.tail_lines is not None:
            query.append(("tailLines", self.tail_lines))
        if self.since_seconds is not None:
            query.append(("sinceSeconds", self.since_seconds))
        if self.previous:
            query.append(("previous", True))
        if self.timestamps:
            query.append(("timestamps", True))
        if follow:
            query.append(("follow", True))
        return query


class PodRepository:
    """The pods of one namespace, as domain values; ``selector`` scopes lists and watches."""

    def __init__(
        self, transport: KubeTransport, namespace: str, *, selector: str = MANAGED_POD_SELECTOR
    ) -> None:
        self.transport = transport
        self.namespace = namespace
        self.selector = selector
        self._pods = f"/api/v1/namespaces/{namespace}/pods"

    def _pod(self, name: str) -> str:
        return f"{self._pods}/{name}"

    async def create(self, manifest: Mapping[str, Any]) -> Sandbox:
        created = await self.transport.request(
            "POST", self._pods, action="create pods", body=manifest
        )
        return sandbox_from_pod(created)

    async def get(self, name: str) -> Sandbox:
        try:
            return sandbox_from_pod(
                await self.transport.request("GET", self._pod(name), action="get pods")
            )
        except NotFound:
            raise NotFound(f"sandbox {name!r} does not exist") from None

    async def list_raw(self) -> tuple[list[Mapping[str, Any]], str]:
        return await list_objects(
            self.transport,
            self._pods,
            selectors=[("labelSelector", self.selector)],
            action="list pods",
        )

    async def patch_annotations(
        self, name: str, annotations: Mapping[str, str | None], *, resource_version: str | None
    ) -> Sandbox:
        """Set (or, with None, remove) annotations by a JSON merge patch.

        With ``resource_version`` the patch only applies to that version of the pod: the
        apiserver answers 409 (Conflict) if the pod changed since, so a decision taken on a
        read cannot land on a newer state (optimistic concurrency).
        """
        metadata: dict[str, Any] = {"annotations": dict(annotations)}
        if resource_version is not None:
            metadata["resourceVersion"] = resource_version
        try:
            patched = await self.transport.request(
                "PATCH",
                self._pod(name),
                action="patch pods",
                body={"metadata": metadata},
                content_type="application/merge-patch+json",
            )
        except NotFound:
            raise NotFound(f"sandbox {name!r} does not exist") from None
        return sandbox_from_pod(patched)

    async def delete(
        self,
        name: str,
        *,
        grace_period_seconds: int | None = None,
        force: bool = False,
        uid: str | None = None,
        resource_version: str | None = None,
    ) -> Sandbox | None:
        """Delete one pod; returns it as left behind (Terminating), or None once it is gone.

        Preconditions (409 Conflict when unmet): with ``uid`` the delete applies only to that
        very pod, not to a newer pod that took the name meanwhile; with ``resource_version``
        only if the pod is still at that version. Deleting a pod already being deleted succeeds
        again without one, so a "delete once" needs the version.
        """
        body: dict[str, Any] = {"apiVersion": "v1", "kind": "DeleteOptions"}
        if force:
            body["gracePeriodSeconds"] = 0
        elif grace_period_seconds is not None:
            body["gracePeriodSeconds"] = grace_period_seconds
        preconditions = {"uid": uid, "resourceVersion": resource_version}
        if any(preconditions.values()):
            body["preconditions"] = {k: v for k, v in preconditions.items() if v}
        try:
            answer = await self.transport.request(
                "DELETE", self._pod(name), action="delete pods", body=body
            )
        except NotFound:
            raise NotFound(f"sandbox {name!r} does not exist") from None
        # A graceful delete answers with the pod (deletionTimestamp set); an immediate one with
        # the pod as it was removed, or a Status on older servers.
        if answer.get("kind") != "Pod":
            return None
        remaining = sandbox_from_pod(answer)
        return remaining if remaining.terminating and not force else None

    async def delete_many(
        self,
        names: Iterable[str],
        *,
        grace_period_seconds: int | None = None,
        force: bool = False,
        concurrency: int = 8,
    ) -> list[str]:
        """Delete several pods, at most ``concurrency`` requests at a time.

        Returns the names whose deletion the apiserver accepted; pods already gone are skipped,
        any other failure is raised after the other deletions have finished.
        """
        limit = asyncio.Semaphore(concurrency)
        deleted: list[str] = []
        failures: list[SandboxError] = []

        async def delete_one(name: str) -> None:
            async with limit:
                try:
                    await self.delete(name, grace_period_seconds=grace_period_seconds, force=force)
                except NotFound:
                    return
                except SandboxError as error:
                    failures.append(error)
                    return
                deleted.append(name)

        async with asyncio.TaskGroup() as group:
            for name in names:
                group.create_task(delete_one(name))
        if failures:
            raise failures[0]
        return sorted(deleted)

    async def logs(self, name: str, options: LogOptions) -> str:
        return await self.transport.request_text(
            self._pod(name) + "/log", action="read pod logs", query=options.query(follow=False)
        )

    async def follow_logs(self, name: str, options: LogOptions) -> AsyncGenerator[str]:
        """Yield log lines as the kubelet writes them, until the stream ends."""
        response = await self.transport.open(
            "GET",
            self._pod(name) + "/log",
            action="read pod logs",
            query=options.query(follow=True),
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=30),
            retry=False,
        )
        async with response:
            async for raw in response.content:
                yield raw.decode(errors="replace").rstrip("\n")

    async def events(self, name: str | None = None) -> dict[str, list[SandboxEvent]]:
        """Events about pods, oldest first, by pod name; one pod's when ``name`` is given.

        Events have no label selector of ours, so the events of many pods come from one list
        of all pod events in the namespace (one request instead of one per pod).
        """
        selector = "involvedObject.kind=Pod"
        if name is not None:
            selector += f",involvedObject.name={name}"
        listing = await self.transport.request(
            "GET",
            f"/api/v1/namespaces/{self.namespace}/events",
            action="list events",
            query=[("fieldSelector", selector)],
        )
        by_pod: dict[str, list[SandboxEvent]] = {}
        for item in listing.get("items") or []:
            pod_name = item.get("involvedObject", {}).get("name")
            if isinstance(pod_name, str):
                by_pod.setdefault(pod_name, []).append(event_from_k8s(item))
        for events in by_pod.values():
            events.sort(key=_event_order)
        return by_pod

    async def watch(
        self, *, resource_version: str, timeout_seconds: int
    ) -> AsyncIterator[WatchEvent]:
        """One watch request from ``resource_version``; ends when the server closes it.

        A 410 (at the start or as an ERROR event in the stream) raises ResourceExpired.
        """
        async for event in watch_objects(
            self.transport,
            self._pods,
            selectors=[("labelSelector", self.selector)],
            resource_version=resource_version,
            timeout_seconds=timeout_seconds,
            action="watch pods",
        ):
            yield event


def _event_order(event: SandboxEvent) -> tuple[float, float]:
    first = event.first_seen.timestamp() if event.first_seen else 0.0
    last = event.last_seen.timestamp() if event.last_seen else first
    return (first, last)
