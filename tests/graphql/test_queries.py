"""Queries over HTTP: pagination, filters, nested fields, GET, GraphiQL."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from devcluster import kwok
from tests.graphql.conftest import RunningServer
from tests.graphql.helpers import GraphQLClient, Json

PAGE = """
query($filter: SandboxFilter, $first: Int, $after: String) {
  sandboxes(filter: $filter, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor startCursor }
    edges { cursor node { name createdAt } }
  }
}"""


def _selector(label: str) -> Json:
    return {"labelSelector": f"gqltest={label}"}


async def _all_pages(gql: GraphQLClient, label: str, size: int) -> list[Json]:
    pages: list[Json] = []
    after: str | None = None
    while True:
        variables = {"filter": _selector(label), "first": size, "after": after}
        page = (await gql.data(PAGE, variables))["sandboxes"]
        pages.append(page)
        if not page["pageInfo"]["hasNextPage"]:
            return pages
        after = page["pageInfo"]["endCursor"]


async def test_pages_cover_every_sandbox_once_in_creation_order(
    gql: GraphQLClient, test_label: str
) -> None:
    created = [(await gql.create(test_label))["name"] for _ in range(5)]
    pages = await _all_pages(gql, test_label, 2)
    assert [len(page["edges"]) for page in pages] == [2, 2, 1]
    assert all(page["totalCount"] == 5 for page in pages)
    names = [edge["node"]["name"] for page in pages for edge in page["edges"]]
    assert names == created  # created one after the other: creation order
    for page in pages:
        assert page["pageInfo"]["endCursor"] == page["edges"][-1]["cursor"]
        assert page["pageInfo"]["startCursor"] == page["edges"][0]["cursor"]


async def test_a_cursor_stays_valid_when_sandboxes_come_and_go(
    gql: GraphQLClient, test_label: str
) -> None:
    names = [(await gql.create(test_label))["name"] for _ in range(4)]
    first = (await gql.data(PAGE, {"filter": _selector(test_label), "first": 2}))["sandboxes"]
    cursor = first["pageInfo"]["endCursor"]
    # Delete the item the cursor points at and one before it; add a newer one.
    await gql.data(
        "mutation($n: String!) { deleteSandbox(name: $n, force: true) { count } }",
        {"n": names[1]},
    )
    await gql.data(
        "mutation($n: String!) { deleteSandbox(name: $n, force: true) { count } }",
        {"n": names[0]},
    )
    newer = (await gql.create(test_label))["name"]
    rest = (await gql.data(PAGE, {"filter": _selector(test_label), "first": 10, "after": cursor}))[
        "sandboxes"
    ]
    assert [edge["node"]["name"] for edge in rest["edges"]] == [names[2], names[3], newer]
    assert rest["totalCount"] == 3
    assert rest["pageInfo"]["hasNextPage"] is False


async def test_filters_by_phase_and_readiness(gql: GraphQLClient, test_label: str) -> None:
    running = await gql.create(test_label, waitForReady=True)
    pending = await gql.create(test_label, labels=[{"key": kwok.BOOT_DELAY_LABEL, "value": "60s"}])

    async def names(**conditions: Any) -> list[str]:
        variables = {"filter": {**_selector(test_label), **conditions}, "first": 10}
        page = (await gql.data(PAGE, variables))["sandboxes"]
        return [edge["node"]["name"] for edge in page["edges"]]

    assert await names(phases=["RUNNING"]) == [running["name"]]
    assert await names(phases=["PENDING", "FAILED"]) == [pending["name"]]
    assert await names(ready=False) == [pending["name"]]
    assert await names(ready=True, phases=["RUNNING"]) == [running["name"]]
    assert await names(phases=[]) == []


async def test_page_arguments_are_checked(gql: GraphQLClient, api_server: RunningServer) -> None:
    maximum = api_server.backend.server.max_page_size
    for first in (maximum + 1, -1):
        errors = await gql.errors(PAGE, {"first": first})
        assert errors[0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "first"}
        assert errors[0]["path"] == ["sandboxes"]
    errors = await gql.errors(PAGE, {"after": "bm90IGEgY3Vyc29y"})
    assert errors[0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "after"}
    errors = await gql.errors(PAGE, {"filter": {"labelSelector": "a in (b"}})
    assert errors[0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert errors[0]["extensions"]["field"] == "filter.labelSelector"
    # null means the server's default page size
    page = (await gql.data(PAGE, {"first": None}))["sandboxes"]
    assert len(page["edges"]) <= api_server.backend.server.default_page_size


async def test_a_missing_sandbox_is_null(gql: GraphQLClient) -> None:
    data = await gql.data('{ sandbox(name: "kata-sandbox-00000000") { name } }')
    assert data == {"sandbox": None}


async def test_events_of_many_sandboxes_take_one_apiserver_request(
    gql: GraphQLClient,
    test_label: str,
    api_server: RunningServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for _ in range(3):
        await gql.create(test_label, waitForReady=True)
    repository = api_server.backend.service.repository
    calls: list[str | None] = []
    real: Callable[..., Awaitable[Any]] = repository.events

    async def counting(name: str | None = None) -> Any:
        calls.append(name)
        return await real(name)

    monkeypatch.setattr(repository, "events", counting)
    query = """query($filter: SandboxFilter) { sandboxes(filter: $filter) { edges { node {
        name events(limit: 2) { reason } } } } }"""
    edges = (await gql.data(query, {"filter": _selector(test_label)}))["sandboxes"]["edges"]
    assert len(edges) == 3
    assert calls == [None]  # one list of the namespace's pod events for all three
    assert all(0 < len(edge["node"]["events"]) <= 2 for edge in edges)
    # Not selected, not fetched.
    calls.clear()
    await gql.data(
        "query($f: SandboxFilter) { sandboxes(filter: $f) { totalCount } }",
        {"f": _selector(test_label)},
    )
    assert calls == []


async def test_nested_logs_arguments(gql: GraphQLClient, test_label: str) -> None:
    name = (await gql.create(test_label, waitForReady=True))["name"]
    query = """query($n: String!, $tail: Int, $since: Int, $c: String) {
      sandbox(name: $n) { logs(tailLines: $tail, sinceSeconds: $since, container: $c) } }"""
    logs = (await gql.data(query, {"n": name, "tail": 2}))["sandbox"]["logs"]
    assert len(logs.splitlines()) == 2
    errors = await gql.errors(query, {"n": name, "tail": -1})
    assert errors[0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "tailLines"}
    errors = await gql.errors(query, {"n": name, "since": 0})
    assert errors[0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "sinceSeconds"}
    # An unknown container is the apiserver's 400: the client's mistake.
    errors = await gql.errors(query, {"n": name, "c": "nope"})
    assert errors[0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "https://" not in errors[0]["message"]


async def test_queries_over_get_but_not_mutations(http: httpx.AsyncClient) -> None:
    response = await http.get(
        "/graphql",
        params={
            "query": "query($n: String!) { sandbox(name: $n) { name } }",
            "variables": json.dumps({"n": "x"}),
        },
    )
    assert response.status_code == 200
    assert response.json() == {"data": {"sandbox": None}}
    mutation = "mutation { cleanupSandboxes(completed: false) { count } }"
    response = await http.get("/graphql", params={"query": mutation})
    assert response.status_code == 400
    assert response.text == "mutations are not allowed when using GET"


async def test_graphiql_for_a_browser(http: httpx.AsyncClient) -> None:
    response = await http.get("/graphql", headers={"Accept": "text/html"})
    assert response.status_code == 200
    assert "graphiql" in response.text.lower()
    redirect = await http.get("/", follow_redirects=False)
    assert redirect.status_code in (302, 307)
    assert redirect.headers["location"] == "/graphql"


async def test_introspection_passes_the_limits(gql: GraphQLClient) -> None:
    from graphql import get_introspection_query

    data = await gql.data(get_introspection_query(descriptions=True))
    names = {t["name"] for t in data["__schema"]["types"]}
    assert {"Sandbox", "SandboxConnection", "DateTime"} <= names


async def test_concurrent_queries(gql: GraphQLClient) -> None:
    results = await asyncio.gather(*(gql.data("{ sandboxes { totalCount } }") for _ in range(20)))
    assert len({r["sandboxes"]["totalCount"] for r in results}) >= 1
