"""The creation rate limit and the capacity report through the API (issue 5), against the real
control plane."""

from __future__ import annotations

from pathlib import Path

import httpx

from app.config import KubernetesSettings
from app.server import create_app
from tests.graphql.conftest import server_settings, start_server
from tests.graphql.helpers import GraphQLClient, GraphQLError, Json
from tests.graphql.lifecycle_queries import CREATE, sandbox_input

CAPACITY = """{
  capacity {
    footprint {
      requests { memoryMi cpuMillicores } limits { memoryMi cpuMillicores }
      overhead { memoryMi cpuMillicores } overheadSource overheadNote
      scheduled { memoryMi cpuMillicores } limited { memoryMi cpuMillicores }
    }
    quotas { name sandboxesThatFit resources { resource hard used remaining unit } }
    quotaNote
    nodes { name sandboxesThatFit }
    nodesNote
    sandboxesThatFit
    fitNote
  }
}"""


async def test_the_creation_rate_limit_answers_rate_limited_with_retry_after(
    kata_manager_kubeconfig: Path, test_label: str
) -> None:
    limit = 2
    settings = server_settings(kubernetes=KubernetesSettings(max_creations_per_minute=limit))
    server = await start_server(create_app(settings, kubeconfig=str(kata_manager_kubeconfig)))
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as http:
            client = GraphQLClient(http)
            created: list[Json] = []
            refused: list[Json] | None = None
            # Creations of earlier tests in the last minute count too: at most limit + 1 tries.
            for attempt in range(limit + 1):
                spec = sandbox_input(test_label, idempotencyKey=f"{test_label}-{attempt}")
                body = await client.post(CREATE, {"input": spec})
                if body.get("errors"):
                    refused = body["errors"]
                    break
                created.append(body["data"]["createSandbox"])
            assert refused is not None, "no RATE_LIMITED within limit + 1 creations"
            [error] = refused
            assert error["extensions"]["code"] == "RATE_LIMITED"
            retry_after = error["extensions"]["retryAfterSeconds"]
            assert isinstance(retry_after, int | float)
            assert 1 <= retry_after <= 60
            assert f"at most {limit} sandboxes" in error["message"]
            if created:
                # A retry of a create that succeeded creates nothing: it is not limited.
                spec = sandbox_input(test_label, idempotencyKey=f"{test_label}-0")
                again = (await client.data(CREATE, {"input": spec}))["createSandbox"]
                assert again["name"] == created[0]["name"]
    finally:
        await server.stop()


# -- capacity -----------------------------------------------------------------------------------


async def test_capacity_reports_footprint_quota_and_why_nodes_are_unknown(
    gql: GraphQLClient, test_label: str
) -> None:
    await gql.data(CREATE, {"input": sandbox_input(test_label)})
    capacity = (await gql.data(CAPACITY))["capacity"]
    footprint = capacity["footprint"]
    assert footprint["requests"] == {"memoryMi": 256, "cpuMillicores": 250}
    assert footprint["limits"] == {"memoryMi": 512, "cpuMillicores": 500}
    assert footprint["overhead"] == {"memoryMi": 160, "cpuMillicores": 250}
    assert footprint["scheduled"] == {"memoryMi": 416, "cpuMillicores": 500}
    assert footprint["limited"] == {"memoryMi": 672, "cpuMillicores": 750}
    # RuntimeClasses are cluster-scoped: read from a sandbox's spec.overhead instead.
    assert footprint["overheadSource"] == "OBSERVED"
    assert "may not read RuntimeClasses" in footprint["overheadNote"]

    [quota] = capacity["quotas"]
    assert quota["name"] == "sandbox-quota"
    lines = {line["resource"]: line for line in quota["resources"]}
    assert lines["requests.memory"]["hard"] == 131072
    assert lines["requests.memory"]["unit"] == "Mi"
    assert lines["requests.cpu"]["hard"] == 64000
    assert lines["pods"]["used"] >= 1
    assert all(line["remaining"] == line["hard"] - line["used"] for line in lines.values())
    assert 0 < quota["sandboxesThatFit"] <= 131072 // 416
    assert capacity["quotaNote"] is None

    # The service's RBAC is namespaced: no nodes, and the API says why and what to install.
    assert capacity["nodes"] is None
    assert "node-reader" in capacity["nodesNote"]
    assert capacity["sandboxesThatFit"] == quota["sandboxesThatFit"]
    assert "ResourceQuota" in capacity["fitNote"]


async def test_capacity_needs_no_sandbox_to_answer(gql: GraphQLClient) -> None:
    try:
        capacity = (await gql.data(CAPACITY))["capacity"]
    except GraphQLError as error:  # pragma: no cover - a failure message worth reading
        raise AssertionError(error.errors) from None
    assert capacity["footprint"]["overheadSource"] in ("OBSERVED", "SETTINGS")
    assert capacity["footprint"]["scheduled"] == {"memoryMi": 416, "cpuMillicores": 500}
