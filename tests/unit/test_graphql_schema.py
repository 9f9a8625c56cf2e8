"""The checked-in ``schema.graphql`` is the code's schema, and the code keeps the contract.

The contract is issue 4's SDL: clients are written against it, so every type, field, argument,
nullability and default in it must be there as written. Additions are allowed.
"""

from __future__ import annotations

from typing import Any

import graphql
import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
)

from app.graphql.export import DEFAULT_PATH, main, schema_sdl
from app.graphql.schema import schema

CONTRACT = """
scalar DateTime

enum SandboxPhase { PENDING RUNNING SUCCEEDED FAILED UNKNOWN }
enum RestartPolicy { NEVER ON_FAILURE ALWAYS }
enum ChangeType { ADDED MODIFIED DELETED }

type Label { key: String! value: String! }
type ResourceAmounts { memoryMi: Int cpuMillicores: Int }
type Resources { requests: ResourceAmounts! limits: ResourceAmounts! overhead: ResourceAmounts }
type ContainerStatus { name: String! image: String! ready: Boolean! restartCount: Int!
  state: String! reason: String message: String exitCode: Int }
type PodCondition { type: String! status: String! reason: String message: String
  lastTransitionTime: DateTime }
type SandboxEvent { type: String! reason: String! message: String! count: Int!
  firstSeen: DateTime lastSeen: DateTime }

type Sandbox {
  name: String!
  namespace: String!
  image: String!
  phase: SandboxPhase!
  ready: Boolean!
  terminating: Boolean!
  createdAt: DateTime!
  nodeName: String
  podIP: String
  runtimeClassName: String
  labels: [Label!]!
  resources: Resources!
  containers: [ContainerStatus!]!
  conditions: [PodCondition!]!
  events(limit: Int = 50): [SandboxEvent!]!
  logs(container: String, tailLines: Int = 100, sinceSeconds: Int): String!
}

type PageInfo { hasNextPage: Boolean! endCursor: String }
type SandboxEdge { cursor: String! node: Sandbox! }
type SandboxConnection { edges: [SandboxEdge!]! pageInfo: PageInfo! totalCount: Int! }

input SandboxFilter { labelSelector: String phases: [SandboxPhase!] ready: Boolean }

type Query {
  sandbox(name: String!): Sandbox
  sandboxes(filter: SandboxFilter, first: Int = 50, after: String): SandboxConnection!
}

input EnvVarInput { name: String! value: String! }
input LabelInput { key: String! value: String! }
input ResourceAmountsInput { memoryMi: Int cpuMillicores: Int }
input ResourcesInput { requests: ResourceAmountsInput limits: ResourceAmountsInput }
input ScratchVolumeInput { mountPath: String! sizeLimitMi: Int }
input ConfigMapVolumeInput { name: String! mountPath: String! }
input CreateSandboxInput {
  image: String!
  command: [String!]
  args: [String!]
  env: [EnvVarInput!]
  labels: [LabelInput!]
  resources: ResourcesInput
  restartPolicy: RestartPolicy = NEVER
  scratch: ScratchVolumeInput
  configMaps: [ConfigMapVolumeInput!]
  waitForReady: Boolean = false
  readyTimeoutSeconds: Int
}

type DeletionResult { deleted: [String!]! count: Int! }

type Mutation {
  createSandbox(input: CreateSandboxInput!): Sandbox!
  deleteSandbox(name: String!, gracePeriodSeconds: Int, force: Boolean = false): DeletionResult!
  deleteSandboxes(labelSelector: String!, gracePeriodSeconds: Int,
    force: Boolean = false): DeletionResult!
  cleanupSandboxes(completed: Boolean = true, olderThanSeconds: Int): DeletionResult!
}

type SandboxChange { type: ChangeType! sandbox: Sandbox! }

type Subscription {
  sandboxChanges(filter: SandboxFilter, includeExisting: Boolean = false): SandboxChange!
  sandboxUpdates(name: String!): SandboxChange!
  sandboxLogs(name: String!, container: String, tailLines: Int, sinceSeconds: Int): String!
}
"""


def _default(item: graphql.GraphQLArgument | graphql.GraphQLInputField) -> str | None:
    """The default as SDL (``50``, ``NEVER``), or None without one; however it was given."""
    node: graphql.ValueNode | None = None
    if item.default is not None and item.default.literal is not None:
        node = item.default.literal
    elif item.default is not None and item.default.value is not graphql.Undefined:
        node = graphql.ast_from_value(item.default.value, item.type)
    elif item.default_value is not graphql.Undefined:
        node = graphql.ast_from_value(item.default_value, item.type)
    return graphql.print_ast(node) if node is not None else None


def _arguments(field: Any) -> dict[str, tuple[str, str | None]]:
    return {name: (str(arg.type), _default(arg)) for name, arg in field.args.items()}


def _contract_items() -> list[tuple[str, str]]:
    contract = graphql.build_schema(CONTRACT)
    return [
        (name, field_name)
        for name, type_ in contract.type_map.items()
        if not name.startswith("__") and name not in ("String", "Int", "Boolean", "Float", "ID")
        for field_name in (getattr(type_, "fields", None) or {"": None})
    ]


@pytest.fixture(scope="module")
def contract() -> GraphQLSchema:
    return graphql.build_schema(CONTRACT)


@pytest.fixture(scope="module")
def ours() -> GraphQLSchema:
    built: GraphQLSchema = schema._schema
    return built


def test_checked_in_schema_is_the_codes() -> None:
    assert DEFAULT_PATH.read_text(encoding="utf-8") == schema_sdl(), (
        "schema.graphql is out of date: run `python -m app.graphql.export`"
    )
    assert main(["--check"]) == 0


def test_check_reports_a_stale_file(tmp_path: Any) -> None:
    stale = tmp_path / "schema.graphql"
    stale.write_text("type Query { old: Int }\n")
    assert main([str(stale), "--check"]) == 1
    assert main([str(stale)]) == 0
    assert stale.read_text() == schema_sdl()


@pytest.mark.parametrize(("type_name", "field_name"), _contract_items())
def test_contract_item_is_served_as_written(
    contract: GraphQLSchema, ours: GraphQLSchema, type_name: str, field_name: str
) -> None:
    wanted = contract.type_map[type_name]
    served = ours.type_map.get(type_name)
    assert served is not None, f"type {type_name} is missing"
    assert isinstance(served, type(wanted))
    if isinstance(wanted, GraphQLEnumType):
        assert isinstance(served, GraphQLEnumType)
        # The contract's values, in its order; later ones may follow (issue 5: EXPIRING).
        assert list(served.values)[: len(wanted.values)] == list(wanted.values)
    elif isinstance(wanted, GraphQLScalarType):
        pass
    elif isinstance(wanted, GraphQLInputObjectType):
        assert isinstance(served, GraphQLInputObjectType)
        want, have = wanted.fields[field_name], served.fields.get(field_name)
        assert have is not None, f"{type_name}.{field_name} is missing"
        assert str(have.type) == str(want.type)
        assert _default(have) == _default(want)
    else:
        assert isinstance(wanted, GraphQLObjectType)
        assert isinstance(served, GraphQLObjectType)
        want_field, have_field = wanted.fields[field_name], served.fields.get(field_name)
        assert have_field is not None, f"{type_name}.{field_name} is missing"
        assert str(have_field.type) == str(want_field.type)
        have_args = _arguments(have_field)
        for name, spec in _arguments(want_field).items():
            assert have_args.get(name) == spec, f"{type_name}.{field_name}({name})"
        extra_required = [
            name
            for name, (type_str, default) in have_args.items()
            if name not in want_field.args and type_str.endswith("!") and default is None
        ]
        assert not extra_required, "added arguments must be optional"
