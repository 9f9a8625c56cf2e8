"""Probes: /healthz while serving, /readyz once the informer has listed the sandboxes."""

from __future__ import annotations

import httpx


async def test_probes_of_a_synced_server(http: httpx.AsyncClient) -> None:
    health = await http.get("/healthz")
    assert (health.status_code, health.text) == (200, "ok")
    ready = await http.get("/readyz")
    assert (ready.status_code, ready.json()) == (200, {"status": "ready"})
