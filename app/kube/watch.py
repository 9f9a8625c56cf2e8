"""List and watch any namespaced collection as raw JSON: pods for the pod informer, events for
the event informer.

A watch is one long GET with ``watch=true`` from a ``resourceVersion``: the apiserver streams one
JSON object per line (``{"type": "ADDED", "object": {...}}``) until ``timeoutSeconds`` run out or
the connection drops. ``allowWatchBookmarks`` adds BOOKMARK lines that only move the
resourceVersion forward. A 410 Gone, at the start or as an ERROR line, means that version was
compacted away: :class:`ResourceExpired`, and the caller relists.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

from app.kube.errors import ResourceExpired
from app.kube.transport import KubeTransport, Query
from app.models import SandboxError


@dataclass(frozen=True, slots=True)
class WatchEvent:
    """One line of a watch stream: ADDED, MODIFIED, DELETED, BOOKMARK or ERROR."""

    type: str
    object: Mapping[str, Any]


async def list_objects(
    transport: KubeTransport, path: str, *, selectors: Query, action: str, timeout: float = 120
) -> tuple[list[Mapping[str, Any]], str]:
    """The items of one list and the list's resourceVersion (where a watch starts)."""
    listing = await transport.request("GET", path, action=action, query=selectors, timeout=timeout)
    items = listing.get("items") or []
    return items, str(listing.get("metadata", {}).get("resourceVersion", ""))


async def watch_objects(
    transport: KubeTransport,
    path: str,
    *,
    selectors: Query,
    resource_version: str,
    timeout_seconds: int,
    action: str,
) -> AsyncIterator[WatchEvent]:
    """One watch request from ``resource_version``; ends when the server closes it."""
    query: Query = [
        *selectors,
        ("watch", True),
        ("allowWatchBookmarks", True),
        ("resourceVersion", resource_version),
        ("timeoutSeconds", timeout_seconds),
    ]
    response = await transport.open(
        "GET",
        path,
        action=action,
        query=query,
        timeout=aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=timeout_seconds + 30),
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
