"""Mutations and the error codes they answer with (all producible without authentication)."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from app.server import create_app
from devcluster import kwok
from tests.graphql.conftest import server_settings, start_server
from tests.graphql.helpers import CREATE, GraphQLClient, Json

BUSYBOX = "docker.io/library/busybox:1.36"


def _input(label: str, **spec: object) -> Json:
    labels = [{"key": "gqltest", "value": label}, *spec.pop("labels", [])]  # type: ignore[misc]
    return {"image": BUSYBOX, "labels": labels, **spec}


async def _create_errors(gql: GraphQLClient, label: str, **spec: object) -> list[Json]:
    return await gql.errors(CREATE, {"input": _input(label, **spec)})


async def test_create_with_every_input_field(gql: GraphQLClient, test_label: str) -> None:
    created = await gql.create(
        test_label,
        command=["/bin/sh", "-c"],
        args=["sleep 3600"],
        env=[{"name": "GREETING", "value": "hello"}],
        labels=[{"key": "team", "value": "platform"}],
        resources={
            "requests": {"memoryMi": 128},
            "limits": {"memoryMi": 1024, "cpuMillicores": 1000},
        },
        restartPolicy="ON_FAILURE",
        scratch={"mountPath": "/scratch", "sizeLimitMi": 256},
        waitForReady=True,
        readyTimeoutSeconds=60,
    )
    assert created["ready"] is True
    assert created["phase"] == "RUNNING"
    assert created["runtimeClassName"] == "kata-qemu"
    assert created["resources"]["requests"]["memoryMi"] == 128
    assert created["resources"]["limits"] == {"memoryMi": 1024, "cpuMillicores": 1000}
    assert created["resources"]["overhead"] == {"memoryMi": 160, "cpuMillicores": 250}
    assert {"key": "team", "value": "platform"} in created["labels"]
    assert created["createdAt"].endswith("Z")
    # What the mutation answered is what a query right after sees.
    seen = await gql.data(
        "query($n: String!) { sandbox(name: $n) { name ready restartPolicy } }",
        {"n": created["name"]},
    )
    assert seen["sandbox"] == {
        "name": created["name"],
        "ready": True,
        "restartPolicy": "ON_FAILURE",
    }


async def test_create_without_waiting_answers_at_once(gql: GraphQLClient, test_label: str) -> None:
    started = time.monotonic()
    created = await gql.create(test_label, labels=[{"key": kwok.BOOT_DELAY_LABEL, "value": "30s"}])
    assert time.monotonic() - started < 10
    assert created["phase"] == "PENDING"
    assert created["ready"] is False
    data = await gql.data(
        "query($n: String!) { sandbox(name: $n) { name } }", {"n": created["name"]}
    )
    assert data["sandbox"] == {"name": created["name"]}


async def test_wait_for_ready_fails_with_the_pull_failure(
    gql: GraphQLClient, test_label: str
) -> None:
    errors = await _create_errors(
        gql, test_label, image=kwok.IMAGE_PULL_FAILURE, waitForReady=True, readyTimeoutSeconds=60
    )
    extensions = errors[0]["extensions"]
    assert extensions["code"] == "SANDBOX_FAILED"
    assert extensions["reason"] == "ImagePullBackOff"
    assert errors[0]["path"] == ["createSandbox"]
    assert "ImagePullBackOff" in errors[0]["message"]


async def test_wait_for_ready_times_out(gql: GraphQLClient, test_label: str) -> None:
    started = time.monotonic()
    errors = await _create_errors(
        gql,
        test_label,
        labels=[{"key": kwok.BOOT_DELAY_LABEL, "value": "20s"}],
        waitForReady=True,
        readyTimeoutSeconds=1,
    )
    assert errors[0]["extensions"] == {"code": "TIMEOUT"}
    assert time.monotonic() - started < 15


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"labels": [{"key": "bad key!", "value": "x"}]}, "input.labels[1].key"),
        ({"labels": [{"key": "app", "value": "mine"}]}, "input.labels[1].key"),
        ({"image": "Not A Valid/Image"}, "input.image"),
        ({"env": [{"name": "1=2", "value": "x"}]}, "input.env[0].name"),
        ({"resources": {"limits": {"memoryMi": 10**6}}}, "input.resources.limits.memoryMi"),
        (
            {"resources": {"requests": {"cpuMillicores": 0}}},
            "input.resources.requests.cpuMillicores",
        ),
        ({"scratch": {"mountPath": "/proc/x"}}, "input.scratch.mountPath"),
        ({"configMaps": [{"name": "Bad_Name", "mountPath": "/cfg"}]}, "input.configMaps[0].name"),
        ({"readyTimeoutSeconds": 0}, "input.readyTimeoutSeconds"),
    ],
)
async def test_bad_input_names_the_field(
    gql: GraphQLClient, test_label: str, spec: Json, field: str
) -> None:
    errors = await _create_errors(gql, test_label, **spec)
    assert errors[0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert errors[0]["extensions"]["field"] == field
    assert errors[0]["message"]


async def test_malformed_requests_are_bad_user_input(gql: GraphQLClient) -> None:
    # A required input field missing, a value of the wrong type, an unknown field.
    cases: list[tuple[str, Json | None]] = [
        (CREATE, {"input": {"labels": []}}),
        (CREATE, {"input": {"image": BUSYBOX, "restartPolicy": "SOMETIMES"}}),
        ("{ sandboxes { nope } }", None),
        ('{ sandboxes(first: "many") { totalCount } }', None),
        ("{ sandboxes { ", None),
    ]
    for query, variables in cases:
        errors = await gql.errors(query, variables)
        assert {e["extensions"]["code"] for e in errors} == {"BAD_USER_INPUT"}, errors


async def test_delete_an_unknown_sandbox_is_not_found(gql: GraphQLClient) -> None:
    errors = await gql.errors('mutation { deleteSandbox(name: "kata-sandbox-00000000") { count } }')
    assert errors[0]["extensions"] == {"code": "NOT_FOUND"}
    assert errors[0]["path"] == ["deleteSandbox"]


async def test_delete_arguments_are_checked(gql: GraphQLClient) -> None:
    errors = await gql.errors(
        'mutation { deleteSandbox(name: "x", gracePeriodSeconds: -1) { count } }'
    )
    assert errors[0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "gracePeriodSeconds"}
    errors = await gql.errors('mutation { deleteSandboxes(labelSelector: " ") { count } }')
    assert errors[0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "labelSelector"}
    errors = await gql.errors('mutation { deleteSandboxes(labelSelector: "a in (") { count } }')
    assert errors[0]["extensions"]["field"] == "labelSelector"
    errors = await gql.errors("mutation { cleanupSandboxes(olderThanSeconds: 0) { count } }")
    assert errors[0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "olderThanSeconds"}


async def test_delete_by_selector_and_graceful_deletion(
    gql: GraphQLClient, test_label: str
) -> None:
    names = sorted([(await gql.create(test_label, waitForReady=True))["name"] for _ in range(2)])
    result = await gql.data(
        "mutation($s: String!) { deleteSandboxes(labelSelector: $s, gracePeriodSeconds: 30) "
        "{ deleted count } }",
        {"s": f"gqltest={test_label}"},
    )
    assert result["deleteSandboxes"] == {"deleted": names, "count": 2}
    # Graceful: the pods show as terminating (or are already gone) right after the answer.
    for name in names:
        data = await gql.data(
            "query($n: String!) { sandbox(name: $n) { terminating } }", {"n": name}
        )
        assert data["sandbox"] is None or data["sandbox"]["terminating"] is True


async def test_cleanup_deletes_finished_sandboxes(gql: GraphQLClient, test_label: str) -> None:
    finished = await gql.create(
        test_label, image=kwok.EXIT_ZERO, labels=[{"key": kwok.RUN_DURATION_LABEL, "value": "0s"}]
    )
    running = await gql.create(test_label, waitForReady=True)
    query = "query($n: String!) { sandbox(name: $n) { phase } }"
    for _ in range(100):
        phase = (await gql.data(query, {"n": finished["name"]}))["sandbox"]["phase"]
        if phase == "SUCCEEDED":
            break
        await _sleep(0.2)
    else:
        pytest.fail("the exit-0 sandbox did not finish")
    result = await gql.data("mutation { cleanupSandboxes { deleted count } }")
    assert finished["name"] in result["cleanupSandboxes"]["deleted"]
    assert running["name"] not in result["cleanupSandboxes"]["deleted"]
    assert (await gql.data(query, {"n": running["name"]}))["sandbox"]["phase"] == "RUNNING"


async def test_conflict_when_no_free_name_is_found(
    kata_manager_kubeconfig: Path, gql: GraphQLClient, test_label: str
) -> None:
    taken = (await gql.create(test_label))["name"]
    # A second server whose every name candidate is taken: the apiserver answers AlreadyExists
    # each time, and the service gives up with CONFLICT.
    app = create_app(
        server_settings(),
        kubeconfig=str(kata_manager_kubeconfig),
        name_factory=lambda prefix: taken,
    )
    server = await start_server(app)
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as http:
            errors = await GraphQLClient(http).errors(CREATE, {"input": _input(test_label)})
    finally:
        await server.stop()
    assert [e["extensions"] for e in errors] == [{"code": "CONFLICT"}]
    assert errors[0]["path"] == ["createSandbox"]


async def _sleep(seconds: float) -> None:
    import asyncio

    await asyncio.sleep(seconds)
