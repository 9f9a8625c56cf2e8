"""Tenants and roles on queries, nested fields and mutations (subscriptions: the next module).

Another tenant's sandbox must look exactly like one that does not exist: null from a query,
NOT_FOUND from a mutation, nothing in lists, counts or bulk operations.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest
from kubernetes_asyncio.client import ApiClient

from app.kube.ownership import TENANT_LABEL
from app.models import SandboxSpec
from app.sandboxes.service import SandboxService
from tests.conftest import SpecFactory
from tests.graphql.helpers import CREATE
from tests.security.conftest import BUSYBOX, Caller, Callers, pod_uids, read_pod

Json = dict[str, Any]

ONE = "query($n: String!) { sandbox(name: $n) { name labels { key value } } }"
NESTED = """query($n: String!) {
  sandbox(name: $n) { name events { reason } logs(tailLines: 5) } }"""
LIST = """query($s: String) {
  sandboxes(filter: {labelSelector: $s}) {
    totalCount edges { node { name events { reason } } } } }"""
DELETE = "mutation($n: String!) { deleteSandbox(name: $n, force: true) { deleted } }"
DELETE_MATCHING = (
    "mutation($s: String!) { deleteSandboxes(labelSelector: $s, force: true) { deleted } }"
)
EXTEND = "mutation($n: String!) { extendSandbox(name: $n, ttlSeconds: 600) { name expiresAt } }"
CLEANUP = "mutation { cleanupSandboxes(completed: false, olderThanSeconds: 1) { deleted count } }"


async def names(caller: Caller, selector: str | None) -> tuple[int, set[str]]:
    data = (await caller.gql.data(LIST, {"s": selector}))["sandboxes"]
    return data["totalCount"], {edge["node"]["name"] for edge in data["edges"]}


async def code_of(caller: Caller, query: str, variables: Json | None = None) -> str:
    errors = await caller.gql.errors(query, variables)
    code: str = errors[0]["extensions"]["code"]
    return code


async def exists(caller: Caller, name: str) -> bool:
    found = (await caller.gql.data(ONE, {"n": name}))["sandbox"]
    return found is not None


@pytest.fixture
async def two_tenants(callers: Callers, label: str) -> tuple[Caller, Caller, str, str]:
    """Users of tenants A and B, each with one ready sandbox labelled ``gqltest=<label>``."""
    a, b = callers.new("user"), callers.new("user")
    sa, sb = await asyncio.gather(
        a.create(label, waitForReady=True), b.create(label, waitForReady=True)
    )
    return a, b, sa["name"], sb["name"]


async def test_sandboxes_carry_their_creators_tenant(
    two_tenants: tuple[Caller, Caller, str, str], admin_api: ApiClient
) -> None:
    a, b, sa, sb = two_tenants
    for caller, name in ((a, sa), (b, sb)):
        pod = await read_pod(admin_api, name)
        assert pod["metadata"]["labels"][TENANT_LABEL] == caller.tenant
        found = (await caller.gql.data(ONE, {"n": name}))["sandbox"]
        assert {"key": TENANT_LABEL, "value": caller.tenant} in found["labels"]


async def test_queries_see_only_the_callers_tenant(
    two_tenants: tuple[Caller, Caller, str, str], callers: Callers, label: str
) -> None:
    a, b, sa, sb = two_tenants
    selector = f"gqltest={label}"
    assert await names(a, selector) == (1, {sa})
    assert await names(b, selector) == (1, {sb})
    assert await names(a, None) == (1, {sa})  # all of A's sandboxes
    assert (await a.gql.data(ONE, {"n": sb})) == {"sandbox": None}
    assert (await b.gql.data(ONE, {"n": sa})) == {"sandbox": None}
    # Naming the other tenant in a selector does not widen the scope.
    assert await names(b, f"{TENANT_LABEL}={a.tenant}") == (0, set())

    viewer = callers.new("viewer", tenant=a.tenant)
    assert await names(viewer, selector) == (1, {sa})
    assert (await viewer.gql.data(ONE, {"n": sb})) == {"sandbox": None}

    admin = callers.new("admin")
    total, seen = await names(admin, selector)
    assert (total, seen) == (2, {sa, sb})


async def test_nested_fields_only_through_a_visible_sandbox(
    two_tenants: tuple[Caller, Caller, str, str], callers: Callers
) -> None:
    a, b, sa, _ = two_tenants
    own = (await a.gql.data(NESTED, {"n": sa}))["sandbox"]
    assert own["name"] == sa
    assert isinstance(own["logs"], str)
    assert isinstance(own["events"], list)
    assert await b.gql.post(NESTED, {"n": sa}) == {"data": {"sandbox": None}}
    viewer = callers.new("viewer", tenant=a.tenant)
    assert (await viewer.gql.data(NESTED, {"n": sa}))["sandbox"]["name"] == sa


async def test_another_tenants_sandbox_cannot_be_deleted(
    two_tenants: tuple[Caller, Caller, str, str], label: str
) -> None:
    a, b, sa, sb = two_tenants
    errors = await b.gql.errors(DELETE, {"n": sa})
    assert errors[0]["extensions"]["code"] == "NOT_FOUND"
    # The same message as for a name that does not exist at all.
    unknown = await b.gql.errors(DELETE, {"n": "kata-sandbox-00000000"})
    assert errors[0]["message"].replace(sa, "X") == unknown[0]["message"].replace(
        "kata-sandbox-00000000", "X"
    )
    # A bulk delete matching both tenants' sandboxes deletes only the caller's.
    deleted = (await b.gql.data(DELETE_MATCHING, {"s": f"gqltest={label}"}))["deleteSandboxes"]
    assert deleted == {"deleted": [sb]}
    assert await exists(a, sa)


async def test_another_tenants_sandbox_cannot_be_extended(
    two_tenants: tuple[Caller, Caller, str, str], callers: Callers
) -> None:
    a, b, sa, _ = two_tenants
    assert await code_of(b, EXTEND, {"n": sa}) == "NOT_FOUND"
    viewer = callers.new("viewer", tenant=a.tenant)
    assert await code_of(viewer, EXTEND, {"n": sa}) == "FORBIDDEN"
    extended = (await a.gql.data(EXTEND, {"n": sa}))["extendSandbox"]
    assert extended["name"] == sa
    assert extended["expiresAt"] is not None


async def test_idempotency_keys_do_not_cross_tenants(callers: Callers, label: str) -> None:
    a, b = callers.new("user"), callers.new("user")
    first = await a.create(label, idempotencyKey="order-42")
    again = await a.create(label, idempotencyKey="order-42")
    other = await b.create(label, idempotencyKey="order-42")
    assert again["name"] == first["name"]
    assert other["name"] != first["name"]
    assert not await exists(b, first["name"])


async def test_cleanup_is_scoped_to_the_tenant(
    two_tenants: tuple[Caller, Caller, str, str],
) -> None:
    a, b, sa, sb = two_tenants
    await asyncio.sleep(1.1)  # both are now older than olderThanSeconds: 1
    cleaned = (await b.gql.data(CLEANUP))["cleanupSandboxes"]
    assert cleaned == {"deleted": [sb], "count": 1}
    assert await exists(a, sa)


async def test_viewers_read_but_cannot_mutate(
    two_tenants: tuple[Caller, Caller, str, str],
    callers: Callers,
    label: str,
    admin_api: ApiClient,
) -> None:
    a, _, sa, _ = two_tenants
    viewer = callers.new("viewer", tenant=a.tenant)
    before = await pod_uids(admin_api)
    spec = {"image": BUSYBOX, "labels": [{"key": "gqltest", "value": label}]}
    for query, variables in (
        (CREATE, {"input": spec}),
        (DELETE, {"n": sa}),
        (DELETE, {"n": "no-such-sandbox"}),
        (DELETE_MATCHING, {"s": f"gqltest={label}"}),
        (CLEANUP, None),
    ):
        assert await code_of(viewer, query, variables) == "FORBIDDEN", query
    assert await pod_uids(admin_api) <= before
    assert await exists(a, sa)


async def test_users_cannot_set_the_tenant_label(callers: Callers, label: str) -> None:
    a, b = callers.new("user"), callers.new("user")
    errors = await a.gql.errors(
        CREATE,
        {
            "input": {
                "image": BUSYBOX,
                "labels": [
                    {"key": "gqltest", "value": label},
                    {"key": TENANT_LABEL, "value": b.tenant},
                ],
            }
        },
    )
    assert errors[0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "input.labels[1].key"}
    assert await names(b, None) == (0, set())


async def test_admins_see_and_delete_every_tenants_sandboxes(
    two_tenants: tuple[Caller, Caller, str, str], callers: Callers, admin_api: ApiClient
) -> None:
    a, b, sa, sb = two_tenants
    admin = callers.new("admin")
    assert await exists(admin, sa)
    assert (await admin.gql.data(DELETE, {"n": sb}))["deleteSandbox"] == {"deleted": [sb]}
    assert not await exists(b, sb) or (await read_pod(admin_api, sb))["metadata"].get(
        "deletionTimestamp"
    )
    own = await admin.create("admin-own")
    pod = await read_pod(admin_api, own["name"])
    assert pod["metadata"]["labels"][TENANT_LABEL] == admin.tenant
    assert not await exists(a, own["name"])


async def test_idempotency_keys_are_per_tenant(
    service: SandboxService, spec: SpecFactory, admin_api: ApiClient
) -> None:
    base: SandboxSpec = dataclasses.replace(spec(), idempotency_key="order-1")
    first = await service.create(dataclasses.replace(base, tenant="t-key-a"))
    again = await service.create(dataclasses.replace(base, tenant="t-key-a"))
    other = await service.create(dataclasses.replace(base, tenant="t-key-b"))
    assert again.name == first.name
    assert other.name != first.name  # B's own sandbox, not A's, and no CONFLICT naming A's
    assert (await read_pod(admin_api, other.name))["metadata"]["labels"][TENANT_LABEL] == "t-key-b"
