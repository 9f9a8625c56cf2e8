"""Sandboxes as created: read back with the admin client, and what the schema cannot ask for.

The pod is what the apiserver stored (admission included), not what the service meant to send.
"""

from __future__ import annotations

import re
from typing import Any

from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLScalarType,
    GraphQLType,
)
from kubernetes_asyncio.client import ApiClient

from app.graphql.schema import schema
from tests.security.conftest import Callers, read_pod

Json = dict[str, Any]

# Pod fields that would weaken isolation; no input of the API may be able to set one.
FORBIDDEN_INPUTS = re.compile(
    r"host|privileg|capabilit|securitycontext|seccomp|apparmor|selinux|sysctl|procmount|"
    r"runasuser|runasgroup|runasnonroot|serviceaccount|automount|nodename|nodeselector|"
    r"toleration|runtimeclass|volume|namespace|ownerreference|annotation",
    re.IGNORECASE,
)
INPUT_SCALARS = {"String", "Int", "Boolean"}


def _assert_hardened(pod: Json) -> None:
    spec = pod["spec"]
    assert spec["automountServiceAccountToken"] is False
    assert spec["enableServiceLinks"] is False
    assert spec["runtimeClassName"] == "kata-qemu"
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        assert spec.get(key) in (None, False), key
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    volumes = spec.get("volumes", [])
    for volume in volumes:
        kinds = set(volume) - {"name"}
        assert kinds <= {"emptyDir", "configMap"}, volume
    # No token volume was injected (automount off).
    assert not [v for v in volumes if "projected" in v]
    (container,) = spec["containers"]
    security = container["securityContext"]
    assert security["allowPrivilegeEscalation"] is False
    assert security["privileged"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert not container.get("ports")
    for section in ("requests", "limits"):
        assert set(container["resources"][section]) == {"cpu", "memory"}, section
    for mount in container.get("volumeMounts", []):
        assert not mount["mountPath"].startswith(("/proc", "/sys", "/dev", "/var/run/secrets"))


async def test_created_pods_are_hardened(
    callers: Callers, label: str, admin_api: ApiClient
) -> None:
    user = callers.new("user")
    plain = await user.create(label)
    full = await user.create(
        label,
        command=["sh", "-c"],
        args=["sleep 3600"],
        env=[{"name": "A", "value": "1"}],
        resources={"requests": {"memoryMi": 300}, "limits": {"cpuMillicores": 1000}},
        scratch={"mountPath": "/work", "sizeLimitMi": 100},
        configMaps=[{"name": "settings", "mountPath": "/etc/app"}],
        restartPolicy="ALWAYS",
    )
    for created in (plain, full):
        _assert_hardened(await read_pod(admin_api, created["name"]))


def _named(kind: GraphQLType) -> GraphQLType:
    while isinstance(kind, GraphQLNonNull | GraphQLList):
        kind = kind.of_type
    return kind


def _inputs() -> dict[str, tuple[str, GraphQLType]]:
    """Every argument and input field reachable from the root types, by dotted path."""
    graphql_schema = schema._schema
    found: dict[str, tuple[str, GraphQLType]] = {}
    pending: list[tuple[str, GraphQLInputObjectType]] = []
    roots = (graphql_schema.query_type, graphql_schema.mutation_type)
    for root in (*roots, graphql_schema.subscription_type):
        assert root is not None
        for field_name, field in root.fields.items():
            for argument_name, argument in field.args.items():
                path = f"{root.name}.{field_name}({argument_name})"
                kind = _named(argument.type)
                found[path] = (argument_name, kind)
                if isinstance(kind, GraphQLInputObjectType):
                    pending.append((path, kind))
    # Arguments of nested fields (Sandbox.logs, Sandbox.events).
    for type_ in graphql_schema.type_map.values():
        if type_.name.startswith("__") or type_ in (*roots, graphql_schema.subscription_type):
            continue
        for field_name, field in getattr(type_, "fields", {}).items():
            for argument_name, argument in getattr(field, "args", {}).items():
                found[f"{type_.name}.{field_name}({argument_name})"] = (
                    argument_name,
                    _named(argument.type),
                )
    seen: set[str] = set()
    while pending:
        path, input_type = pending.pop()
        if input_type.name in seen:
            continue
        seen.add(input_type.name)
        for field_name, input_field in input_type.fields.items():
            kind = _named(input_field.type)
            found[f"{path}.{field_name}"] = (field_name, kind)
            if isinstance(kind, GraphQLInputObjectType):
                pending.append((f"{path}.{field_name}", kind))
    return found


def test_the_api_cannot_ask_for_host_access_privileges_or_capabilities() -> None:
    inputs = _inputs()
    assert "Mutation.createSandbox(input).image" in inputs  # the walk does reach the spec
    for path, (name, kind) in inputs.items():
        assert not FORBIDDEN_INPUTS.search(name), path
        # Only plain scalars and enums: no JSON-like scalar could carry a raw pod spec.
        if isinstance(kind, GraphQLScalarType):
            assert kind.name in INPUT_SCALARS, (path, kind.name)
        else:
            assert isinstance(kind, GraphQLEnumType | GraphQLInputObjectType), path
    # Nor do the input types' names hint at such a thing.
    names = {str(getattr(kind, "name", "")) for _, kind in inputs.values()}
    assert not [n for n in names if re.search(r"host|privileg|capabilit|security", n, re.I)]
