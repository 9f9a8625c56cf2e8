"""Identical sandboxChanges subscriptions share one execution (``app.graphql.fanout``), and every
subscriber still gets exactly what a subscription of its own would send."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from app.graphql.fanout import hub_of
from tests.graphql.conftest import RunningServer
from tests.graphql.helpers import GraphQLClient, TransportWS, open_ws

Json = dict[str, Any]

CHANGES = """subscription($f: SandboxFilter, $existing: Boolean) {
  sandboxChanges(filter: $f, includeExisting: $existing) { type sandbox { name phase } } }"""


@contextlib.asynccontextmanager
async def subscriber(server: RunningServer) -> AsyncIterator[TransportWS]:
    async with open_ws(server.ws_url, TransportWS.protocol) as ws:
        client = TransportWS(ws)
        await client.init()
        yield client


async def _until(predicate: Any, timeout: float = 10) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.02)


def _hub(server: RunningServer) -> Any:
    route = next(r for r in server.app.router.routes if getattr(r, "path", "") == "/graphql")
    return hub_of(getattr(route, "app", None))


async def test_identical_subscriptions_share_one_execution(
    api_server: RunningServer, gql: GraphQLClient, test_label: str
) -> None:
    informer = api_server.backend.informer
    baseline = informer.subscriber_count
    variables = {"f": {"labelSelector": f"gqltest={test_label}"}}
    async with (
        subscriber(api_server) as a,
        subscriber(api_server) as b,
        subscriber(api_server) as c,
    ):
        ops = [await client.subscribe(CHANGES, variables) for client in (a, b, c)]
        hub = _hub(api_server)
        await _until(lambda: sum(len(g.members) for g in hub.groups.values()) == 3)
        # One execution for the three: one informer subscription (and one lifecycle feed).
        assert informer.subscriber_count == baseline + 1
        # includeExisting starts with a snapshot of its own: it runs alone.
        alone = await c.subscribe(CHANGES, {**variables, "existing": True})
        await _until(lambda: informer.subscriber_count == baseline + 2)

        created = await gql.create(test_label)
        payloads = [
            await client.next_payload(op) for client, op in zip((a, b, c), ops, strict=True)
        ]
        assert payloads[0] == payloads[1] == payloads[2]
        change = payloads[0]["data"]["sandboxChanges"]
        assert change == {"type": "ADDED", "sandbox": {"name": created["name"], "phase": "PENDING"}}
        assert (await c.next_data(alone))["sandboxChanges"]["sandbox"]["name"] == created["name"]

        # A member that completes leaves the others running; the source goes with the last.
        await a.stop(ops[0])
        await _until(lambda: sum(len(g.members) for g in hub.groups.values()) == 2)
        await gql.data(
            "mutation($n: String!) { deleteSandbox(name: $n, force: true) { count } }",
            {"n": created["name"]},
        )
        for client, op in ((b, ops[1]), (c, ops[2])):
            seen = await client.until(
                op, lambda d: d["sandboxChanges"]["type"] == "DELETED", timeout=30
            )
            assert seen[-1]["sandboxChanges"]["sandbox"]["name"] == created["name"]
        await b.stop(ops[1])
        await c.stop(ops[2])
        await c.stop(alone)
        await _until(lambda: informer.subscriber_count == baseline)
        assert not hub.groups


async def test_different_variables_do_not_share(
    api_server: RunningServer, gql: GraphQLClient, test_label: str
) -> None:
    informer = api_server.backend.informer
    baseline = informer.subscriber_count
    async with subscriber(api_server) as a, subscriber(api_server) as b:
        op_a = await a.subscribe(CHANGES, {"f": {"labelSelector": f"gqltest={test_label}"}})
        op_b = await b.subscribe(CHANGES, {"f": {"labelSelector": f"gqltest={test_label}x"}})
        await _until(lambda: informer.subscriber_count == baseline + 2)
        created = await gql.create(test_label)
        data = await a.next_data(op_a)
        assert data["sandboxChanges"]["sandbox"]["name"] == created["name"]
        with contextlib.suppress(TimeoutError):
            unexpected = await b.receive(op_b, timeout=1)
            raise AssertionError(f"b's filter does not match: {unexpected}")
    await _until(lambda: informer.subscriber_count == baseline)
