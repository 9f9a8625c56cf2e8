"""Pods of the sandbox namespace: create, read, delete, logs and events.

Deletion semantics worth knowing:

- A pod bound to a node is deleted *gracefully*: the apiserver only sets
  ``metadata.deletionTimestamp`` (watchers see MODIFIED, the pod shows as Terminating) and the
  node's agent removes the object once the containers have stopped, or the grace period has run
  out. ``gracePeriodSeconds=0`` ("force") removes the object at once, without waiting for the node.
- A pod that was never scheduled, or has finished, has nothing to stop and is removed at once.

Logs are served by the node's kubelet and proxied by the apiserver, so they exist only once a
container has started; a 400 "waiting to start"/"ContainerCreating" is the kubelet saying so.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, AsyncIterator, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

from app.kube.convert import event_from_k8s, sandbox_from_pod
from app.kube.errors import ResourceExpired
from app.kube.ownership import MANAGED_POD_SELECTOR, SANDBOX_CONTAINER_NAME
from app.kube.transport import KubeTransport, Query
from app.models import NotFound, Sandbox, SandboxError, SandboxEvent


@dataclass(frozen=True, slots=True)
class WatchEvent:
    """One line of a watch stream: ADDED, MODIFIED, DELETED, BOOKMARK or ERROR."""

    type: str
    object: Mapping[str, Any]


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
        listing = await self.transport.request(
            "GET",
            self._pods,
            action="list pods",
            query=[("labelSelector", self.selector)],
            timeout=120,
        )
        items = listing.get("items") or []
        return items, str(listing.get("metadata", {}).get("resourceVersion", ""))

    async def delete(
        self, name: str, *, grace_period_seconds: int | None = None, force: bool = False
    ) -> Sandbox | None:
        """Delete one pod; returns it as left behind (Terminating), or None once it is gone."""
        body: dict[str, Any] = {"apiVersion": "v1", "kind": "DeleteOptions"}
        if force:
            body["gracePeriodSeconds"] = 0
        elif grace_period_seconds is not None:
            body["gracePeriodSeconds"] = grace_period_seconds
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
        query: Query = [
            ("labelSelector", self.selector),
            ("watch", True),
            ("allowWatchBookmarks", True),
            ("resourceVersion", resource_version),
            ("timeoutSeconds", timeout_seconds),
        ]
        response = await self.transport.open(
            "GET",
            self._pods,
            action="watch pods",
            query=query,
            timeout=aiohttp.ClientTimeout(
                total=None, sock_connect=30, sock_read=timeout_seconds + 30
            ),
            retry=False,
        )
        async with response:
            async for line in response.content:
                if not line.strip():
                    continue
                event = json.loads(line)
                kind, obj = event.get("type"), event.get("object") or {}
                if kind == "ERROR":
                    if obj.get("code") == 410:
                        raise ResourceExpired("watch resourceVersion expired")
                    raise SandboxError(f"watch error: {obj.get('message', '')}")
                yield WatchEvent(type=str(kind), object=obj)


def _event_order(event: SandboxEvent) -> tuple[float, float]:
    first = event.first_seen.timestamp() if event.first_seen else 0.0
    last = event.last_seen.timestamp() if event.last_seen else first
    return (first, last)
