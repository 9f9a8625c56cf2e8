"""A sandbox's life seen through the API: create, watch, read events and logs, delete."""

from __future__ import annotations

from pathlib import Path

import pytest

from devcluster import kwok
from devcluster.cluster import LocalCluster
from tests.graphql.conftest import RunningServer
from tests.graphql.helpers import GraphQLClient, Json, LegacyWS, TransportWS, open_ws

CHANGES = """
subscription($filter: SandboxFilter, $existing: Boolean) {
  sandboxChanges(filter: $filter, includeExisting: $existing) {
    type sandbox { name phase ready terminating labels { key value } }
  }
}"""

UPDATES = """
subscription($name: String!) {
  sandboxUpdates(name: $name) { type sandbox { name phase ready terminating } }
}"""

LOGS = """
subscription($name: String!, $tail: Int) { sandboxLogs(name: $name, tailLines: $tail) }"""

DETAILS = """
query($name: String!) {
  sandbox(name: $name) {
    name phase ready nodeName podIP
    containers { name state ready }
    events { type reason message count firstSeen lastSeen }
    logs(tailLines: 100)
  }
}"""

DELETE = "mutation($name: String!) { deleteSandbox(name: $name) { deleted count } }"


def _change(data: Json) -> Json:
    change: Json = data["sandboxChanges"]
    return change


@pytest.mark.parametrize("protocol", [TransportWS, LegacyWS], ids=["transport-ws", "graphql-ws"])
async def test_create_watch_query_delete(
    api_server: RunningServer, gql: GraphQLClient, test_label: str, protocol: type[TransportWS]
) -> None:
    async with open_ws(api_server.ws_url, protocol.protocol) as ws:
        assert ws.subprotocol == protocol.protocol
        client = protocol(ws)
        await client.init()
        selector = {"labelSelector": f"gqltest={test_label}"}
        op = await client.subscribe(CHANGES, {"filter": selector, "existing": True})

        created = await gql.create(test_label)
        name = created["name"]
        assert created["phase"] == "PENDING"
        assert {"key": "gqltest", "value": test_label} in created["labels"]

        first = _change(await client.next_data(op))
        assert (first["type"], first["sandbox"]["name"]) == ("ADDED", name)
        seen = await client.until(
            op, lambda d: _change(d)["sandbox"]["ready"] and _change(d)["type"] == "MODIFIED"
        )
        assert _change(seen[-1])["sandbox"]["phase"] == "RUNNING"
        assert all(_change(d)["sandbox"]["name"] == name for d in seen)

        details = (await gql.data(DETAILS, {"name": name}))["sandbox"]
        assert details["ready"]
        assert details["nodeName"]
        assert details["podIP"]
        assert details["containers"] == [{"name": "sandbox", "state": "running", "ready": True}]
        reasons = {event["reason"] for event in details["events"]}
        assert {"Scheduled", "Started"} <= reasons
        assert all(event["count"] >= 1 and event["lastSeen"] for event in details["events"])
        assert kwok.LOG_LINES[0] in details["logs"]

        deleted = (await gql.data(DELETE, {"name": name}))["deleteSandbox"]
        assert deleted == {"deleted": [name], "count": 1}
        # The mutation answers once the store has seen the deletion: a query right after sees it.
        terminating = await gql.data(
            "query($n: String!) { sandbox(name: $n) { terminating } }", {"n": name}
        )
        assert terminating["sandbox"] is None or terminating["sandbox"]["terminating"] is True

        rest = await client.until(op, lambda d: _change(d)["type"] == "DELETED")
        assert _change(rest[-1])["sandbox"]["name"] == name
        await client.stop(op)


async def test_sandbox_updates_from_current_state_to_deletion(
    api_server: RunningServer, gql: GraphQLClient, test_label: str
) -> None:
    created = await gql.create(test_label, waitForReady=True)
    name = created["name"]
    assert created["ready"] is True
    async with open_ws(api_server.ws_url, TransportWS.protocol) as ws:
        client = TransportWS(ws)
        await client.init()
        op = await client.subscribe(UPDATES, {"name": name})
        first = (await client.next_data(op))["sandboxUpdates"]
        assert first["type"] == "ADDED"
        assert first["sandbox"] == {
            "name": name,
            "phase": "RUNNING",
            "ready": True,
            "terminating": False,
        }
        await gql.data(DELETE, {"name": name})
        updates = await client.until(op, lambda d: d["sandboxUpdates"]["type"] == "DELETED")
        kinds = [d["sandboxUpdates"]["type"] for d in updates]
        assert set(kinds[:-1]) <= {"MODIFIED"}
        assert any(d["sandboxUpdates"]["sandbox"]["terminating"] for d in updates)
        await client.expect_complete(op)


async def test_sandbox_updates_of_an_unknown_sandbox_is_not_found(
    api_server: RunningServer,
) -> None:
    async with open_ws(api_server.ws_url, TransportWS.protocol) as ws:
        client = TransportWS(ws)
        await client.init()
        op = await client.subscribe(UPDATES, {"name": "kata-sandbox-00000000"})
        errors = await client.expect_errors(op)
        assert [e["extensions"]["code"] for e in errors] == ["NOT_FOUND"]
        assert "kata-sandbox-00000000" in errors[0]["message"]


async def test_sandbox_logs_follows_until_the_container_ends(
    api_server: RunningServer, gql: GraphQLClient, test_label: str, cluster: LocalCluster
) -> None:
    # exit-0 runs for a few seconds, then terminates: the stream must complete by itself.
    created = await gql.create(
        test_label,
        image=kwok.EXIT_ZERO,
        labels=[{"key": kwok.RUN_DURATION_LABEL, "value": "4s"}],
    )
    async with open_ws(api_server.ws_url, TransportWS.protocol) as ws:
        client = TransportWS(ws)
        await client.init()
        op = await client.subscribe(LOGS, {"name": created["name"], "tail": 3})
        # The log file is shared by every simulated container, so its tail varies.
        lines = [(await client.next_data(op))["sandboxLogs"] for _ in range(3)]
        assert all(isinstance(line, str) and line for line in lines)
        appended = f"appended by the GraphQL test {test_label}"
        kwok.append_log_lines(_kwok_dir(cluster), [appended])
        following: list[str] = []
        while True:
            message = await client.receive(op, timeout=30)
            if message["type"] == "complete":
                break
            assert message["type"] == "next", message
            following.append(message["payload"]["data"]["sandboxLogs"])
        assert appended in following


async def test_sandbox_logs_of_an_unknown_sandbox_is_not_found(
    api_server: RunningServer,
) -> None:
    async with open_ws(api_server.ws_url, LegacyWS.protocol) as ws:
        client = LegacyWS(ws)
        await client.init()
        op = await client.subscribe(LOGS, {"name": "kata-sandbox-00000000"})
        errors = await client.expect_errors(op)
        assert [e["extensions"]["code"] for e in errors] == ["NOT_FOUND"]


def _kwok_dir(cluster: LocalCluster) -> Path:
    return cluster.workdir / "kwok"
