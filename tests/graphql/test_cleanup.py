"""Every subscription releases what it holds (informer subscription, tasks, log streams) when its
client completes it, disconnects, or the server shuts down."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from httpx_ws import AsyncWebSocketSession, WebSocketDisconnect

from app.graphql.fanout import hub_of
from app.server import create_app
from tests.graphql.conftest import RunningServer, server_settings, start_server
from tests.graphql.helpers import GraphQLClient, LegacyWS, TransportWS, open_ws

CHANGES = "subscription { sandboxChanges(includeExisting: true) { type sandbox { name } } }"


async def _eventually(check: Callable[[], bool], what: str, *, timeout: float = 10) -> None:
    try:
        async with asyncio.timeout(timeout):
            while not check():
                await asyncio.sleep(0.05)
    except TimeoutError:
        pytest.fail(f"still not true after {timeout}s: {what}")


def _leftover(before: set[asyncio.Task[object]]) -> set[asyncio.Task[object]]:
    current = asyncio.current_task()
    return {t for t in asyncio.all_tasks() if t not in before and t is not current and not t.done()}


async def _drain(ws: AsyncWebSocketSession) -> None:
    while True:
        await ws.receive_json(timeout=30)


Ending = Callable[[TransportWS, str], Awaitable[None]]


async def _complete(client: TransportWS, op: str) -> None:
    await client.stop(op)


async def _disconnect(client: TransportWS, op: str) -> None:
    await client.ws.close()


async def _drop(client: TransportWS, op: str) -> None:
    # No close frame: the TCP connection just goes away.
    await client.ws.stream.aclose()


@pytest.mark.parametrize("ending", [_complete, _disconnect, _drop], ids=lambda f: f.__name__[1:])
@pytest.mark.parametrize("protocol", [TransportWS, LegacyWS], ids=["transport-ws", "graphql-ws"])
@pytest.mark.parametrize("kind", ["changes", "updates", "logs"])
async def test_a_subscription_leaves_nothing_behind(
    api_server: RunningServer,
    gql: GraphQLClient,
    test_label: str,
    kind: str,
    protocol: type[TransportWS],
    ending: Ending,
) -> None:
    informer = api_server.backend.informer
    name = (await gql.create(test_label, waitForReady=True))["name"]
    query, variables = {
        "changes": (CHANGES, {}),
        "updates": ("subscription($n: String!) { sandboxUpdates(name: $n) { type } }", {"n": name}),
        "logs": ("subscription($n: String!) { sandboxLogs(name: $n) }", {"n": name}),
    }[kind]
    subscribers = informer.subscriber_count
    before = set(asyncio.all_tasks())
    async with open_ws(api_server.ws_url, protocol.protocol) as ws:
        client = protocol(ws)
        await client.init()
        op = await client.subscribe(query, variables)
        await client.next_data(op)  # running, and holding what it holds
        if kind != "logs":
            assert informer.subscriber_count == subscribers + 1
        else:
            assert _leftover(before), "a log stream runs in tasks of its own"
        await ending(client, op)
        if ending is _complete:
            await _eventually(
                lambda: informer.subscriber_count == subscribers, "informer subscription closed"
            )
    await _eventually(lambda: informer.subscriber_count == subscribers, "subscription closed")
    await _eventually(lambda: not _leftover(before), f"tasks left: {_leftover(before)}")


async def test_many_subscribers_share_one_watch(
    api_server: RunningServer, gql: GraphQLClient, test_label: str
) -> None:
    informer = api_server.backend.informer
    subscribers = informer.subscriber_count
    watch_task = informer._task
    async with open_ws(api_server.ws_url, TransportWS.protocol) as ws:
        client = TransportWS(ws)
        await client.init()
        selector = {"labelSelector": f"gqltest={test_label}"}
        query = (
            "subscription($f: SandboxFilter) "
            "{ sandboxChanges(filter: $f) { type sandbox { name } } }"
        )
        ops = [await client.subscribe(query, {"f": selector}) for _ in range(5)]
        # Identical subscriptions share one execution (app.graphql.fanout): one informer
        # subscription for the five.
        routes = api_server.app.router.routes
        route = next(r for r in routes if getattr(r, "path", "") == "/graphql")
        hub = hub_of(getattr(route, "app", None))
        await _eventually(
            lambda: sum(len(g.members) for g in hub.groups.values()) == 5, "5 subscribers"
        )
        assert informer.subscriber_count == subscribers + 1
        name = (await gql.create(test_label))["name"]
        for op in ops:
            change = (await client.next_data(op))["sandboxChanges"]
            assert change == {"type": "ADDED", "sandbox": {"name": name}}
        assert informer._task is watch_task  # still the one list+watch of the process
    await _eventually(lambda: informer.subscriber_count == subscribers, "subscriptions closed")


async def test_shutdown_ends_open_subscriptions(
    kata_manager_kubeconfig: Path, gql: GraphQLClient, test_label: str
) -> None:
    name = (await gql.create(test_label, waitForReady=True))["name"]
    app = create_app(server_settings(), kubeconfig=str(kata_manager_kubeconfig))
    server = await start_server(app)
    informer = server.backend.informer
    before = set(asyncio.all_tasks())
    try:
        async with open_ws(server.ws_url, TransportWS.protocol) as ws:
            client = TransportWS(ws)
            await client.init()
            changes = await client.subscribe(CHANGES)
            logs = await client.subscribe(
                "subscription($n: String!) { sandboxLogs(name: $n) }", {"n": name}
            )
            await client.next_data(changes)
            await client.next_data(logs)
            assert informer.subscriber_count == 1
            stopping = asyncio.create_task(server.stop())
            with pytest.raises(WebSocketDisconnect) as closed:
                await _drain(ws)
            assert closed.value.code == 1012  # "service restart": clients reconnect elsewhere
            await stopping
    finally:
        if not server.task.done():
            await server.stop()
    assert informer.subscriber_count == 0
    assert server.runtime.backend is None
    await _eventually(lambda: not _leftover(before), f"tasks left: {_leftover(before)}")
