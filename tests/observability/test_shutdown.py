"""SIGTERM to a real ``python -m uvicorn app.server:app`` process while it works.

What a rolling update does to a replica: the kubelet sends SIGTERM, waits
``terminationGracePeriodSeconds``, then kills. These tests send the real signal to a real
process serving the real control plane and check, from the outside, what clients see.
"""

from __future__ import annotations

import asyncio
import secrets
import signal
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import pytest
from httpx_ws import WebSocketDisconnect

from app.observability.shutdown import SHUTTING_DOWN_MESSAGE
from app.sandboxes.service import SandboxService
from tests.graphql.helpers import CREATE, Json, LegacyWS, TransportWS, open_ws
from tests.observability.conftest import ServerProcess, Spawn

pytestmark = pytest.mark.cluster

CHANGES = (
    "subscription($s: String!) { sandboxChanges(filter: {labelSelector: $s}) "
    "{ type sandbox { name ready } } }"
)


@dataclass
class Timings:
    """Seconds after the signal, for the test's report (``-s`` shows them)."""

    signalled: float = field(default_factory=time.monotonic)
    marks: dict[str, float] = field(default_factory=dict)

    def mark(self, what: str) -> float:
        self.marks[what] = round(time.monotonic() - self.signalled, 3)
        return self.marks[what]


@pytest.fixture
async def tag(service: SandboxService) -> AsyncIterator[str]:
    value = f"s{secrets.token_hex(5)}"
    yield value
    await service.delete_matching(f"shutdowntest={value}", force=True)


def create_request(tag: str, boot_delay: str) -> Json:
    labels = [
        {"key": "shutdowntest", "value": tag},
        {"key": "kata-sim.test/boot-delay", "value": boot_delay},
    ]
    spec = {
        "image": "docker.io/library/busybox:1.36",
        "labels": labels,
        "waitForReady": True,
        "readyTimeoutSeconds": 120,
    }
    return {"query": CREATE, "variables": {"input": spec}}


async def final_message(client: TransportWS, op: str) -> Json:
    """Skip the changes still in flight; the last result carries the shutdown error."""
    while True:
        payload = await client.next_payload(op, timeout=10)
        if payload.get("errors"):
            await client.expect_complete(op, timeout=5)
            return payload


async def closed_code(client: TransportWS) -> int:
    """The code of the server's close, after any messages still queued."""
    try:
        while True:
            await client.ws.receive(timeout=10)
    except WebSocketDisconnect as closed:
        return closed.code or 0


def refused(server: ServerProcess) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=2):
            return False
    except ConnectionRefusedError:
        return True


async def wait_exit(server: ServerProcess, timeout: float) -> int:
    return await asyncio.to_thread(server.process.wait, timeout)


async def test_sigterm_completes_subscriptions_and_finishes_requests_in_flight(
    spawn: Spawn, tag: str
) -> None:
    server = spawn(Server__ShutdownTimeoutSeconds="15")
    async with (
        httpx.AsyncClient(base_url=server.url, timeout=60) as http,
        open_ws(server.ws_url, TransportWS.protocol) as modern_ws,
        open_ws(server.ws_url, LegacyWS.protocol) as legacy_ws,
    ):
        modern, legacy = TransportWS(modern_ws), LegacyWS(legacy_ws)
        await modern.init()
        await legacy.init()
        modern_op = await modern.subscribe(CHANGES, {"s": f"shutdowntest={tag}"})
        legacy_op = await legacy.subscribe(CHANGES, {"s": f"shutdowntest={tag}"})
        # A create that waits for a 3 s boot: in flight when the signal comes.
        creating = asyncio.create_task(http.post("/graphql", json=create_request(tag, "3s")))
        added = await modern.next_data(modern_op)
        assert added["sandboxChanges"]["type"] == "ADDED"
        await legacy.next_data(legacy_op)
        assert not creating.done()

        timings = Timings()
        server.process.send_signal(signal.SIGTERM)

        for client, op in ((modern, modern_op), (legacy, legacy_op)):
            final = await final_message(client, op)
            assert final["data"] is None
            assert final["errors"] == [
                {"message": SHUTTING_DOWN_MESSAGE, "extensions": {"code": "UNAVAILABLE"}}
            ]
        timings.mark("final messages")
        # Listening stopped before the drain: nobody new gets in, while a request is in flight.
        assert refused(server)
        with pytest.raises(httpx.ConnectError):
            async with httpx.AsyncClient(base_url=server.url) as newcomer:
                await newcomer.get("/healthz")
        assert not creating.done()
        assert await closed_code(modern) == 1012
        assert await closed_code(legacy) == 1012

        response = await creating
        timings.mark("request in flight answered")
        assert response.status_code == 200
        created = response.json()["data"]["createSandbox"]
        assert created["ready"] is True
        assert refused(server)

    returncode = await wait_exit(server, 20)
    exited = timings.mark("exit")
    print(f"\nshutdown timings (s after SIGTERM): {timings.marks}")
    assert returncode in (0, -signal.SIGTERM)  # uvicorn re-raises the signal it handled
    assert timings.marks["final messages"] < 1
    assert 1.5 < timings.marks["request in flight answered"] < 5
    assert exited < 15

    lines = server.lines()
    messages = [line["message"] for line in lines]
    drained = next(line for line in lines if line["message"].startswith("drained "))
    assert drained["message"].startswith("drained 2 subscriptions and 0 other")
    assert drained["unfinished"] == 0
    assert any(m.startswith("SIGTERM received: refusing new connections") for m in messages)
    stopped = next(line for line in lines if line["message"].startswith("shut down:"))
    assert stopped["shutdown_seconds"] < 15
    assert not [line for line in lines if line["level"] in ("ERROR", "CRITICAL")]


async def test_the_deadline_cuts_off_what_is_still_running(spawn: Spawn, tag: str) -> None:
    server = spawn(Server__ShutdownTimeoutSeconds="3")
    async with (
        httpx.AsyncClient(base_url=server.url, timeout=60) as http,
        open_ws(server.ws_url, TransportWS.protocol) as ws,
    ):
        client = TransportWS(ws)
        await client.init()
        op = await client.subscribe(CHANGES, {"s": f"shutdowntest={tag}"})
        # A boot of 30 s: far beyond the 3 s the process has to stop.
        creating = asyncio.create_task(http.post("/graphql", json=create_request(tag, "30s")))
        await client.next_data(op)

        timings = Timings()
        server.process.send_signal(signal.SIGTERM)
        final = await final_message(client, op)
        assert final["errors"][0]["extensions"]["code"] == "UNAVAILABLE"
        timings.mark("final message")
        returncode = await wait_exit(server, 15)
        timings.mark("exit")
        try:
            response = await creating
        except httpx.HTTPError:
            timings.mark("request cut off")  # uvicorn cancelled it at the deadline
        else:
            timings.mark("request answered")
            assert response.status_code == 500  # cancelled before its answer was sent
    print(f"\nshutdown timings (s after SIGTERM, 3 s deadline): {timings.marks}")
    assert returncode in (0, -signal.SIGTERM)
    assert 1.5 < timings.marks["exit"] < 3 + 1.0
    messages = [line["message"] for line in server.lines()]
    assert any("timeout graceful shutdown exceeded" in message for message in messages)
