"""Issue 5 through the API, over real HTTP and websockets against the real control plane: boot
phases, timelines and diagnoses; TTLs, EXPIRING and the reaper's DELETED(EXPIRED);
extendSandbox; idempotent creates racing on two replicas. (The creation rate limit and capacity:
``test_capacity_and_rate_limit``.)

``lifecycle_server`` is a second replica with the reaper on (fast leader election on the one
Lease the service may use, EXPIRING 2 s ahead, a reaper pass every 0.5 s, reaping expired
sandboxes only) and with MaxResourceLimits raised above a node's size, so that the API can be
asked for a sandbox no node can take.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.config import (
    KubernetesSettings,
    LeaderElectionSettings,
    LifecycleSettings,
    ResourceAmountSettings,
)
from app.server import create_app
from devcluster.kwok import BOOT_DELAY_LABEL, IMAGE_PULL_FAILURE
from tests.graphql.conftest import RunningServer, server_settings, start_server
from tests.graphql.helpers import GraphQLClient, Json, TransportWS, open_ws
from tests.graphql.lifecycle_queries import (
    CHANGES,
    CREATE,
    DELETE,
    EXTEND,
    SANDBOX,
    UPDATES,
    sandbox_input,
)

BOOT_SEQUENCE = ["ACCEPTED", "SCHEDULED", "BOOTING", "PULLING_IMAGE", "STARTING", "READY"]
NOTICE_SECONDS = 2


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text)


@pytest.fixture(scope="module")
async def lifecycle_server(kata_manager_kubeconfig: Path) -> AsyncIterator[RunningServer]:
    settings = server_settings(
        kubernetes=KubernetesSettings(
            cleanup_completed_pods=False,
            max_resource_limits=ResourceAmountSettings(memory_mi=32768, cpu_millicores=2000),
        ),
        lifecycle=LifecycleSettings(
            reaper_interval_seconds=0.5,
            max_pending_seconds=None,
            expiring_notice_seconds=NOTICE_SECONDS,
            leader_election=LeaderElectionSettings(
                lease_duration_seconds=3, renew_deadline_seconds=2, retry_period_seconds=0.25
            ),
        ),
    )
    running = await start_server(create_app(settings, kubeconfig=str(kata_manager_kubeconfig)))
    try:
        yield running
    finally:
        await running.stop()


@pytest.fixture(scope="module")
async def replica(lifecycle_server: RunningServer) -> AsyncIterator[GraphQLClient]:
    async with httpx.AsyncClient(base_url=lifecycle_server.url, timeout=60) as http:
        yield GraphQLClient(http)


async def _updates_until(
    server: RunningServer, name: str, done: Any, *, timeout: float = 60
) -> list[Json]:
    """sandboxUpdates of ``name`` up to the first change for which ``done(change)`` holds."""
    async with open_ws(server.ws_url, TransportWS.protocol) as ws:
        client = TransportWS(ws)
        await client.init()
        op = await client.subscribe(UPDATES, {"name": name})
        seen = await client.until(op, lambda d: done(d["sandboxUpdates"]), timeout=timeout)
    return [data["sandboxUpdates"] for data in seen]


async def _eventually_query(
    gql: GraphQLClient, name: str, done: Any, *, within: float = 30
) -> Json:
    async with asyncio.timeout(within):
        while True:
            sandbox: Json = (await gql.data(SANDBOX, {"name": name}))["sandbox"]
            if done(sandbox):
                return sandbox
            await asyncio.sleep(0.2)


# -- boot phases, timelines, diagnoses ----------------------------------------------------------


async def test_a_boot_is_followed_phase_by_phase_and_the_timeline_shows_it(
    api_server: RunningServer, gql: GraphQLClient, test_label: str
) -> None:
    created = (
        await gql.data(
            CREATE,
            {"input": sandbox_input(test_label, labels=[{"key": BOOT_DELAY_LABEL, "value": "2s"}])},
        )
    )["createSandbox"]
    assert created["bootPhase"] in BOOT_SEQUENCE[:3]
    assert created["diagnosis"] is None
    assert created["timeline"][0] == {"phase": "ACCEPTED", "at": created["createdAt"]}
    name = created["name"]

    # sandboxUpdates carries the phase as it moves, never backwards.
    changes = await _updates_until(api_server, name, lambda c: c["sandbox"]["bootPhase"] == "READY")
    phases = [c["sandbox"]["bootPhase"] for c in changes]
    distinct = [p for i, p in enumerate(phases) if i == 0 or phases[i - 1] != p]
    assert distinct == [p for p in BOOT_SEQUENCE if p in distinct], phases
    assert "BOOTING" in distinct, phases  # the simulated 2 s VM boot was seen
    assert all(c["sandbox"]["diagnosis"] is None for c in changes)

    # Once every event is in, the timeline has each step, in order, with the boot's 2 s.
    ready = await _eventually_query(gql, name, lambda s: len(s["timeline"]) == 6)
    assert [step["phase"] for step in ready["timeline"]] == BOOT_SEQUENCE
    times = [_time(step["at"]) for step in ready["timeline"]]
    assert times == sorted(times)
    assert 1.0 <= (times[3] - times[2]).total_seconds() <= 5.0, ready["timeline"]

    # A user's delete: DELETED with reason USER.
    async with open_ws(api_server.ws_url, TransportWS.protocol) as ws:
        client = TransportWS(ws)
        await client.init()
        op = await client.subscribe(UPDATES, {"name": name})
        assert (await client.next_data(op))["sandboxUpdates"]["type"] == "ADDED"
        await gql.data(DELETE, {"name": name})
        seen = await client.until(op, lambda d: d["sandboxUpdates"]["type"] == "DELETED")
        await client.expect_complete(op)
    deleted = seen[-1]["sandboxUpdates"]
    assert deleted["reason"] == "USER"
    assert deleted["sandbox"]["timeline"][-1]["phase"] == "TERMINATING"
    terminating = [c["sandboxUpdates"] for c in seen if c["sandboxUpdates"]["type"] == "MODIFIED"]
    assert all(c["reason"] == "USER" for c in terminating if c["sandbox"]["terminating"])


async def test_an_image_pull_failure_is_diagnosed(
    api_server: RunningServer, gql: GraphQLClient, test_label: str
) -> None:
    spec = sandbox_input(
        test_label, image=IMAGE_PULL_FAILURE, labels=[{"key": BOOT_DELAY_LABEL, "value": "0s"}]
    )
    name = (await gql.data(CREATE, {"input": spec}))["createSandbox"]["name"]
    changes = await _updates_until(
        api_server,
        name,
        lambda c: c["sandbox"]["bootPhase"] == "FAILED" and c["sandbox"]["diagnosis"] is not None,
    )
    failed = changes[-1]["sandbox"]
    diagnosis = failed["diagnosis"]
    assert diagnosis["reason"] == "IMAGE_PULL_FAILURE"
    assert IMAGE_PULL_FAILURE in diagnosis["message"]
    assert "could not be pulled" in diagnosis["message"]
    assert "image name" in diagnosis["hint"]
    assert [step["phase"] for step in failed["timeline"]][-2:] == ["PULLING_IMAGE", "FAILED"]
    assert changes[-1]["reason"] is None  # not being deleted


async def test_an_unschedulable_sandbox_names_its_shortfall_with_the_kata_overhead(
    lifecycle_server: RunningServer, replica: GraphQLClient, test_label: str
) -> None:
    # 20Gi is within this server's MaxResourceLimits but more than any node's 16Gi.
    big = {"memoryMi": 20480, "cpuMillicores": 500}
    spec = sandbox_input(test_label, resources={"requests": big, "limits": big})
    name = (await replica.data(CREATE, {"input": spec}))["createSandbox"]["name"]
    changes = await _updates_until(
        lifecycle_server, name, lambda c: c["sandbox"]["diagnosis"] is not None
    )
    assert changes[0]["sandbox"]["diagnosis"] is None or len(changes) == 1
    sandbox = changes[-1]["sandbox"]
    diagnosis = sandbox["diagnosis"]
    assert diagnosis["reason"] == "UNSCHEDULABLE"
    assert "needs 20640Mi memory incl. 160Mi Kata overhead" in diagnosis["message"]
    assert "Insufficient memory" in diagnosis["message"]
    assert diagnosis["hint"]
    assert sandbox["bootPhase"] == "ACCEPTED"
    assert [step["phase"] for step in sandbox["timeline"]] == ["ACCEPTED"]


# -- TTL, EXPIRING, the reaper, extendSandbox ---------------------------------------------------


async def test_expiry_sends_expiring_then_deleted_expired(
    lifecycle_server: RunningServer, replica: GraphQLClient, test_label: str
) -> None:
    async with open_ws(lifecycle_server.ws_url, TransportWS.protocol) as ws:
        client = TransportWS(ws)
        await client.init()
        op = await client.subscribe(CHANGES, {"selector": f"gqltest={test_label}"})
        created = (await replica.data(CREATE, {"input": sandbox_input(test_label, ttlSeconds=4)}))[
            "createSandbox"
        ]
        expires_at = _time(created["expiresAt"])
        assert expires_at == _time(created["createdAt"]) + timedelta(seconds=4)
        received: list[tuple[datetime, Json]] = []

        def record(data: Json) -> bool:
            received.append((datetime.now(UTC), data["sandboxChanges"]))
            return bool(data["sandboxChanges"]["type"] == "DELETED")

        # Leader election may first wait out a previous holder's lease (3 s here, 15 s default).
        await client.until(op, record, timeout=60)
    types = [change["type"] for _, change in received]
    assert types[0] == "ADDED"
    assert types.count("EXPIRING") == 1, types
    assert types.index("EXPIRING") < types.index("DELETED")
    noticed_at, notice = received[types.index("EXPIRING")]
    assert notice["sandbox"]["name"] == created["name"]
    assert notice["reason"] is None
    # Sent NOTICE_SECONDS before the expiry (whole-second timestamps, and a busy loop: 1 s slack).
    lead = (expires_at - noticed_at).total_seconds()
    assert NOTICE_SECONDS - 1.5 <= lead <= NOTICE_SECONDS + 1, lead
    deleted = received[-1][1]
    assert deleted["reason"] == "EXPIRED"
    assert deleted["sandbox"]["name"] == created["name"]
    assert received[-1][0] >= expires_at


async def test_extend_sandbox(gql: GraphQLClient, test_label: str) -> None:
    created = (await gql.data(CREATE, {"input": sandbox_input(test_label, ttlSeconds=600)}))[
        "createSandbox"
    ]
    assert _time(created["expiresAt"]) == _time(created["createdAt"]) + timedelta(seconds=600)
    before = datetime.now(UTC)
    extended = (await gql.data(EXTEND, {"name": created["name"], "ttl": 3600}))["extendSandbox"]
    expires_at = _time(extended["expiresAt"])
    assert before + timedelta(seconds=3599) <= expires_at
    assert expires_at <= datetime.now(UTC) + timedelta(seconds=3600)
    # The store has it too: a query right after sees the new expiry.
    again = (await gql.data(SANDBOX, {"name": created["name"]}))["sandbox"]
    assert again["expiresAt"] == extended["expiresAt"]

    errors = await gql.errors(EXTEND, {"name": created["name"], "ttl": 10**7})
    assert errors[0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert errors[0]["extensions"]["field"] == "ttlSeconds"
    errors = await gql.errors(EXTEND, {"name": "kata-sandbox-00000000", "ttl": 60})
    assert errors[0]["extensions"] == {"code": "NOT_FOUND"}
    # Sandboxes without a TTL (no DefaultTtlSeconds) live until deleted.
    plain = (await gql.data(CREATE, {"input": sandbox_input(test_label)}))["createSandbox"]
    assert plain["expiresAt"] is None


async def test_ttl_out_of_range_names_the_field(gql: GraphQLClient, test_label: str) -> None:
    errors = await gql.errors(CREATE, {"input": sandbox_input(test_label, ttlSeconds=0)})
    assert errors[0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "input.ttlSeconds"}


# -- idempotent create, rate limit --------------------------------------------------------------


async def test_idempotent_creates_racing_on_two_replicas_get_one_sandbox(
    gql: GraphQLClient, replica: GraphQLClient, test_label: str
) -> None:
    key = f"order-{secrets.token_hex(6)}"
    spec = sandbox_input(test_label, idempotencyKey=key)
    first, second = await asyncio.gather(
        gql.data(CREATE, {"input": spec}), replica.data(CREATE, {"input": spec})
    )
    a, b = first["createSandbox"], second["createSandbox"]
    assert a["name"] == b["name"]
    assert a["idempotencyKey"] == b["idempotencyKey"] == key
    # A retry later (while it boots or after) returns it too, from either replica.
    retried = (await replica.data(CREATE, {"input": spec}))["createSandbox"]
    assert retried["name"] == a["name"]
    listed = await gql.data(
        "query($s: String!) { sandboxes(filter: {labelSelector: $s}) { totalCount } }",
        {"s": f"gqltest={test_label}"},
    )
    assert listed["sandboxes"]["totalCount"] == 1

    # The same key with another spec is refused, on both replicas.
    other = sandbox_input(test_label, idempotencyKey=key, env=[{"name": "X", "value": "1"}])
    for client in (gql, replica):
        errors = await client.errors(CREATE, {"input": other})
        assert errors[0]["extensions"]["code"] == "CONFLICT", errors
        assert key in errors[0]["message"] or "idempotency" in errors[0]["message"].lower()
