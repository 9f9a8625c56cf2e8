"""Bad input through the real endpoint: BAD_USER_INPUT naming the field, and no pod created."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from kubernetes_asyncio.client import ApiClient

from app.server import create_app
from tests.graphql.conftest import start_server
from tests.graphql.helpers import CREATE, GraphQLClient
from tests.security.conftest import (
    BUSYBOX,
    Callers,
    TokensFile,
    delete_tenant_pods,
    pod_uids,
    secure_settings,
)

Json = dict[str, Any]
DIGEST = "sha256:" + "a" * 64


def create(**spec: Any) -> tuple[str, Json]:
    return CREATE, {"input": {"image": BUSYBOX, **spec}}


def resources(section: str, **amounts: int) -> Json:
    return {"resources": {section: amounts}}


CASES: list[tuple[str, tuple[str, Json], str | None]] = [
    ("uppercase path", create(image="docker.io/Library/busybox"), "input.image"),
    ("space in tag", create(image="busybox:bad tag"), "input.image"),
    ("short digest", create(image="busybox@sha256:abc"), "input.image"),
    ("trailing slash", create(image="registry.example:5000/"), "input.image"),
    ("control character", create(image="busybox\n:1"), "input.image"),
    ("env name", create(env=[{"name": "1BAD", "value": "x"}]), "input.env[0].name"),
    ("env NUL value", create(env=[{"name": "A", "value": "a\x00b"}]), "input.env[0].value"),
    (
        "duplicate env",
        create(env=[{"name": "A", "value": "1"}, {"name": "A", "value": "2"}]),
        "input.env[1].name",
    ),
    ("label key", create(labels=[{"key": "bad key!", "value": "x"}]), "input.labels[0].key"),
    ("owned label", create(labels=[{"key": "app", "value": "x"}]), "input.labels[0].key"),
    ("label value", create(labels=[{"key": "k", "value": "x" * 64}]), "input.labels[0].value"),
    (
        "memory limit",
        create(**resources("limits", memoryMi=10**6)),
        "input.resources.limits.memoryMi",
    ),
    (
        "zero cpu",
        create(**resources("requests", cpuMillicores=0)),
        "input.resources.requests.cpuMillicores",
    ),
    (
        "request over limit",
        create(resources={"requests": {"memoryMi": 1024}, "limits": {"memoryMi": 512}}),
        "input.resources.requests.memoryMi",
    ),
    ("too many args", create(command=["sh"], args=["x"] * 65), "input.args"),
    ("NUL in args", create(args=["ok", "\x00"]), "input.args[1]"),
    ("huge args", create(args=["x" * 20_000, "y" * 20_000]), "input.args"),
    ("relative mount", create(scratch={"mountPath": "data"}), "input.scratch.mountPath"),
    ("proc mount", create(scratch={"mountPath": "/proc/x"}), "input.scratch.mountPath"),
    ("dotdot mount", create(scratch={"mountPath": "/a/../etc"}), "input.scratch.mountPath"),
    (
        "scratch size",
        create(scratch={"mountPath": "/d", "sizeLimitMi": 0}),
        "input.scratch.sizeLimitMi",
    ),
    (
        "config map name",
        create(configMaps=[{"name": "Bad_Name", "mountPath": "/c"}]),
        "input.configMaps[0].name",
    ),
    (
        "same mount twice",
        create(scratch={"mountPath": "/d"}, configMaps=[{"name": "c", "mountPath": "/d/"}]),
        "input.configMaps[0].mountPath",
    ),
    (
        "ready timeout zero",
        create(waitForReady=True, readyTimeoutSeconds=0),
        "input.readyTimeoutSeconds",
    ),
    ("ready timeout huge", create(readyTimeoutSeconds=10**6), "input.readyTimeoutSeconds"),
    ("ttl zero", create(ttlSeconds=0), "input.ttlSeconds"),
    ("ttl beyond the maximum", create(ttlSeconds=86400 + 1), "input.ttlSeconds"),
    ("empty idempotency key", create(idempotencyKey=""), "input.idempotencyKey"),
    ("control in idempotency key", create(idempotencyKey="a\x1bb"), "input.idempotencyKey"),
    (
        "extension beyond the maximum",
        ('mutation { extendSandbox(name: "x", ttlSeconds: 86401) { name } }', {}),
        "ttlSeconds",
    ),
    (
        "selector syntax",
        (
            "query($s: String) { sandboxes(filter: {labelSelector: $s}) { totalCount } }",
            {"s": "a in (b"},
        ),
        "filter.labelSelector",
    ),
    (
        "empty bulk selector",
        ("mutation($s: String!) { deleteSandboxes(labelSelector: $s) { count } }", {"s": " "}),
        "labelSelector",
    ),
    (
        "injection-like selector",
        (
            "mutation($s: String!) { deleteSandboxes(labelSelector: $s) { count } }",
            {"s": "a=b;rm -rf /"},
        ),
        "labelSelector",
    ),
    (
        "negative grace period",
        ('mutation { deleteSandbox(name: "x", gracePeriodSeconds: -1) { count } }', {}),
        "gracePeriodSeconds",
    ),
    (
        "zero age",
        ("mutation { cleanupSandboxes(olderThanSeconds: 0) { count } }", {}),
        "olderThanSeconds",
    ),
    ("page size", ("{ sandboxes(first: 100000) { totalCount } }", {}), "first"),
    ("cursor", ('{ sandboxes(after: "not-a-cursor") { totalCount } }', {}), "after"),
    ("wrong type", (CREATE, {"input": {"image": 5}}), None),
    ("out of Int range", create(**resources("limits", memoryMi=2**40)), None),
    ("missing image", (CREATE, {"input": {}}), None),
]


@pytest.mark.parametrize(("case", "request_", "field"), CASES, ids=[c[0] for c in CASES])
async def test_bad_input_is_refused_with_the_field_and_creates_nothing(
    callers: Callers,
    admin_api: ApiClient,
    case: str,
    request_: tuple[str, Json],
    field: str | None,
) -> None:
    caller = callers.new("user")
    query, variables = request_
    before = await pod_uids(admin_api)
    errors = await caller.gql.errors(query, variables)
    assert errors[0]["extensions"]["code"] == "BAD_USER_INPUT", errors
    if field is not None:
        assert errors[0]["extensions"]["field"] == field, errors
    assert "data" not in errors[0]
    assert await pod_uids(admin_api) <= before, case


async def test_registry_allowlist(
    kata_manager_kubeconfig: Path, tokens_file: TokensFile, admin_api: ApiClient
) -> None:
    tenant = "t-registry"
    token = tokens_file.add(tenant, "user")
    settings = secure_settings(tokens_file.path, allowed_image_registries=("ghcr.io/allowed",))
    server = await start_server(create_app(settings, kubeconfig=str(kata_manager_kubeconfig)))
    try:
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=60) as http:
            gql = GraphQLClient(http)
            before = await pod_uids(admin_api)
            for image in (
                BUSYBOX,
                "ghcr.io/allowedx/a:1",
                "ghcr.io/other/a",
                "evil.io/ghcr.io/allowed/a",
            ):
                errors = await gql.errors(CREATE, {"input": {"image": image}})
                assert errors[0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "input.image"}
                assert "ghcr.io/allowed" in errors[0]["message"]
            assert await pod_uids(admin_api) <= before
            image = f"ghcr.io/allowed/tools:1.0@{DIGEST}"
            created = (await gql.data(CREATE, {"input": {"image": image}}))["createSandbox"]
            assert created["image"] == image
    finally:
        await server.stop()
        await delete_tenant_pods(admin_api, {tenant})
