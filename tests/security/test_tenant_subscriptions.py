"""Tenants on all three subscriptions, over both websocket protocols."""

from __future__ import annotations

from typing import Any

import pytest

from tests.graphql.conftest import RunningServer
from tests.graphql.helpers import LegacyWS, TransportWS
from tests.security.conftest import Callers, connected

Json = dict[str, Any]

CHANGES = """subscription($f: SandboxFilter) {
  sandboxChanges(filter: $f, includeExisting: true) { type sandbox { name } } }"""
UPDATES = "subscription($n: String!) { sandboxUpdates(name: $n) { type sandbox { name } } }"
LOGS = "subscription($n: String!) { sandboxLogs(name: $n, tailLines: 5) }"
DELETE = "mutation($n: String!) { deleteSandbox(name: $n, force: true) { count } }"

PROTOCOLS = [TransportWS, LegacyWS]


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_sandbox_changes_never_show_another_tenants_sandboxes(
    secure_server: RunningServer, callers: Callers, label: str, protocol: type[TransportWS]
) -> None:
    a, b = callers.new("user"), callers.new("user")
    admin = callers.new("admin")
    selector = {"labelSelector": f"gqltest={label}"}
    async with (
        connected(secure_server, b, protocol) as b_ws,
        connected(secure_server, admin, protocol) as admin_ws,
    ):
        b_op = await b_ws.subscribe(CHANGES, {"f": selector})
        b_all = await b_ws.subscribe(CHANGES, {})
        admin_op = await admin_ws.subscribe(CHANGES, {"f": selector})
        # A's sandbox changes first, so any leak would reach B before B's own changes do.
        sa = (await a.create(label))["name"]
        await a.gql.data(DELETE, {"n": sa})
        sb = (await b.create(label))["name"]
        for op in (b_op, b_all):
            seen = await b_ws.until(op, lambda d: d["sandboxChanges"]["sandbox"]["name"] == sb)
            assert {d["sandboxChanges"]["sandbox"]["name"] for d in seen} == {sb}
        admin_seen = await admin_ws.until(
            admin_op, lambda d: d["sandboxChanges"]["sandbox"]["name"] == sb
        )
        assert sa in {d["sandboxChanges"]["sandbox"]["name"] for d in admin_seen}


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_sandbox_updates_and_logs_of_another_tenant_are_not_found(
    secure_server: RunningServer, callers: Callers, label: str, protocol: type[TransportWS]
) -> None:
    a, b = callers.new("user"), callers.new("user")
    viewer = callers.new("viewer", tenant=a.tenant)
    sa = (await a.create(label, waitForReady=True))["name"]
    async with connected(secure_server, b, protocol) as b_ws:
        for query in (UPDATES, LOGS):
            op = await b_ws.subscribe(query, {"n": sa})
            errors = await b_ws.expect_errors(op)
            assert errors[0]["extensions"]["code"] == "NOT_FOUND", query
            assert sa in errors[0]["message"]
    async with connected(secure_server, viewer, protocol) as v_ws:
        updates = await v_ws.subscribe(UPDATES, {"n": sa})
        first = await v_ws.next_data(updates)
        assert first["sandboxUpdates"] == {"type": "ADDED", "sandbox": {"name": sa}}
        logs = await v_ws.subscribe(LOGS, {"n": sa})
        line = await v_ws.next_data(logs)
        assert isinstance(line["sandboxLogs"], str)
        await v_ws.stop(logs)
        await a.gql.data(DELETE, {"n": sa})
        await v_ws.until(updates, lambda d: d["sandboxUpdates"]["type"] == "DELETED")
