"""``/metrics`` of a real server after real operations against the local control plane."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx
import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from app.observability.metrics import MAX_OPERATION_LABELS, OTHER, OperationLabels
from app.observability.runtime import Observability
from tests.graphql.conftest import RunningServer
from tests.graphql.helpers import CREATE, TransportWS, open_ws

pytestmark = pytest.mark.cluster

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
CHANGES = (
    "subscription($s: String!) { sandboxChanges(filter: {labelSelector: $s}) "
    "{ type sandbox { name } } }"
)


def parse(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def scrape(http: httpx.AsyncClient) -> Samples:
    response = await http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    return parse(response.text)


async def eventually(http: httpx.AsyncClient, check: Callable[[Samples], bool]) -> Samples:
    async with asyncio.timeout(15):
        while not check(samples := await scrape(http)):
            await asyncio.sleep(0.1)
    return samples


async def test_operations_errors_and_create_latency_are_counted(
    obs_server: RunningServer, obs_label: str
) -> None:
    async with httpx.AsyncClient(base_url=obs_server.url, timeout=60) as http:
        before = await scrape(http)
        listed = await http.post(
            "/graphql",
            json={
                "query": "query ListThem { sandboxes(first: 5) { totalCount } }",
                "operationName": "ListThem",
            },
        )
        assert listed.json()["data"]["sandboxes"]["totalCount"] >= 0
        missing = await http.post(
            "/graphql", json={"query": 'mutation { deleteSandbox(name: "no-such-one") { count } }'}
        )
        assert missing.json()["errors"][0]["extensions"]["code"] == "NOT_FOUND"
        broken = await http.post("/graphql", json={"query": "{ sandbox("})
        assert broken.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
        labels = [
            {"key": "obstest", "value": obs_label},
            {"key": "kata-sim.test/boot-delay", "value": "2s"},
        ]
        started = time.monotonic()
        created = await http.post(
            "/graphql",
            json={
                "query": CREATE,
                "variables": {
                    "input": {
                        "image": "docker.io/library/busybox:1.36",
                        "labels": labels,
                        "waitForReady": True,
                    }
                },
            },
        )
        took = time.monotonic() - started
        assert created.json()["data"]["createSandbox"]["ready"] is True, created.text
        after = await scrape(http)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    ops = "kata_graphql_operations_total"
    assert delta(ops, type="query", operation="ListThem") == 1
    assert delta(ops, type="mutation", operation="deleteSandbox") == 1
    assert delta(ops, type="invalid", operation="anonymous") == 1
    assert delta(ops, type="mutation", operation="CreateSandbox") == 0  # CREATE is anonymous
    assert delta(ops, type="mutation", operation="createSandbox") == 1
    errors = "kata_graphql_operation_errors_total"
    assert delta(errors, type="mutation", operation="deleteSandbox", code="NOT_FOUND") == 1
    assert delta(errors, type="invalid", operation="anonymous", code="BAD_USER_INPUT") == 1
    assert delta(errors, type="query", operation="ListThem", code="NOT_FOUND") == 0
    assert delta("kata_graphql_operation_duration_seconds_count", type="query") >= 1

    create = "kata_sandbox_create_duration_seconds"
    assert delta(f"{create}_count", wait_for_ready="true", outcome="ok") == 1
    spent = delta(f"{create}_sum", wait_for_ready="true", outcome="ok")
    assert 1.5 <= spent <= took  # waited for the 2 s boot, measured inside the request
    # Boot time: observed once, when the informer first saw the sandbox Ready (before the
    # mutation answered). Kubernetes timestamps are whole seconds: 2 s boots measure 1 to 3.
    assert delta("kata_sandbox_boot_duration_seconds_count") == 1
    assert 1 <= delta("kata_sandbox_boot_duration_seconds_sum") <= 4


async def test_active_subscriptions_gauge_follows_open_subscriptions(
    obs_server: RunningServer, obs_label: str
) -> None:
    gauge = "kata_graphql_active_subscriptions"
    async with httpx.AsyncClient(base_url=obs_server.url, timeout=60) as http:
        baseline = value(await scrape(http), gauge, subscription="sandboxChanges")
        async with open_ws(obs_server.ws_url, TransportWS.protocol) as ws:
            client = TransportWS(ws)
            await client.init()
            # Different selectors: identical subscriptions would share one execution
            # (app.graphql.fanout), and this is about executions.
            first = await client.subscribe(CHANGES, {"s": f"obstest={obs_label}"})
            second = await client.subscribe(CHANGES, {"s": f"obstest={obs_label},x!=y"})
            await eventually(
                http, lambda s: value(s, gauge, subscription="sandboxChanges") == baseline + 2
            )
            await client.stop(first)
            await eventually(
                http, lambda s: value(s, gauge, subscription="sandboxChanges") == baseline + 1
            )
            assert second
        # The connection closed: the other subscription ends too, and counts as an operation.
        samples = await eventually(
            http, lambda s: value(s, gauge, subscription="sandboxChanges") == baseline
        )
        ops = "kata_graphql_operations_total"
        assert value(samples, ops, type="subscription", operation="sandboxChanges") >= 2


async def test_informer_metrics_and_sandboxes_by_phase(
    obs_server: RunningServer, obs_label: str
) -> None:
    informer = obs_server.backend.informer
    async with httpx.AsyncClient(base_url=obs_server.url, timeout=60) as http:
        samples = await scrape(http)
        phases = {
            dict(labels)["phase"]: count
            for (name, labels), count in samples.items()
            if name == "kata_sandboxes"
        }
        assert set(phases) == {"Pending", "Running", "Succeeded", "Failed", "Unknown"}
        assert sum(phases.values()) == len(informer.store)
        assert value(samples, "kata_informer_synced") == 1
        assert value(samples, "kata_informer_relists_total") >= 1
        assert 0 <= value(samples, "kata_informer_last_event_age_seconds") < 600
        assert value(samples, "kata_informer_subscribers") == informer.subscriber_count

        running = value(samples, "kata_sandboxes", phase="Running")
        added = value(samples, "kata_informer_events_total", type="ADDED")
        created = await http.post(
            "/graphql",
            json={
                "query": CREATE,
                "variables": {
                    "input": {
                        "image": "docker.io/library/busybox:1.36",
                        "labels": [{"key": "obstest", "value": obs_label}],
                        "waitForReady": True,
                    }
                },
            },
        )
        assert created.json()["data"]["createSandbox"]["ready"] is True, created.text
        samples = await scrape(http)
        assert value(samples, "kata_sandboxes", phase="Running") >= running + 1
        assert value(samples, "kata_informer_events_total", type="ADDED") >= added + 1
        assert value(samples, "kata_informer_events_total", type="MODIFIED") >= 1
        assert value(samples, "kata_informer_last_event_age_seconds") < 5


async def test_reaper_deletions_counter_is_exposed(obs_server: RunningServer) -> None:
    observability: Observability = obs_server.app.state.observability
    async with httpx.AsyncClient(base_url=obs_server.url, timeout=60) as http:
        samples = await scrape(http)
        for reason in ("EXPIRED", "COMPLETED", "STUCK"):
            assert ("kata_reaper_deletions_total", frozenset({("reason", reason)})) in samples
        before = value(samples, "kata_reaper_deletions_total", reason="EXPIRED")
        # What the reaper calls for each sandbox it deletes.
        observability.metrics.reaper_deletions.labels(reason="EXPIRED").inc()
        after = value(await scrape(http), "kata_reaper_deletions_total", reason="EXPIRED")
        assert after == before + 1


async def test_each_app_has_its_own_registry(obs_server: RunningServer) -> None:
    other = Observability()
    async with httpx.AsyncClient(base_url=obs_server.url, timeout=60) as http:
        await http.post("/graphql", json={"query": "query Mine { __typename }"})
        ours = await scrape(http)
    assert value(ours, "kata_graphql_operations_total", type="query", operation="Mine") >= 1
    theirs = parse(generate_latest(other.metrics.registry).decode())
    assert value(theirs, "kata_graphql_operations_total", type="query", operation="Mine") == 0
    # No informer is bound to the new one yet: no sandbox series.
    assert not [key for key in theirs if key[0] == "kata_sandboxes"]


def test_operation_labels_are_bounded() -> None:
    labels = OperationLabels(limit=3)
    assert labels("GetSandboxes", ["sandboxes"]) == "GetSandboxes"
    assert labels(None, ["sandboxes", "sandbox", "sandboxes"]) == "sandbox,sandboxes"
    assert labels("not a name!", []) == "anonymous"
    assert labels("Another", []) == OTHER  # a fourth distinct value
    assert labels("GetSandboxes", []) == "GetSandboxes"  # known ones still count as themselves
    assert OperationLabels()("x" * 500, []) == "anonymous"
    assert MAX_OPERATION_LABELS >= 100
