"""Queries and inputs shared by the issue-5 API tests."""

from __future__ import annotations

from typing import Any

from tests.graphql.helpers import Json

BUSYBOX = "docker.io/library/busybox:1.36"

LIFECYCLE = """
  name phase ready terminating createdAt expiresAt idempotencyKey
  bootPhase timeline { phase at } diagnosis { reason message hint }
"""
CREATE = (
    "mutation($input: CreateSandboxInput!) { createSandbox(input: $input) { " + LIFECYCLE + " } }"
)
SANDBOX = "query($name: String!) { sandbox(name: $name) { " + LIFECYCLE + " } }"
EXTEND = (
    "mutation($name: String!, $ttl: Int!) { extendSandbox(name: $name, ttlSeconds: $ttl) { "
    + LIFECYCLE
    + " } }"
)
DELETE = "mutation($name: String!) { deleteSandbox(name: $name) { count } }"
UPDATES = (
    "subscription($name: String!) { sandboxUpdates(name: $name) { type reason sandbox { "
    + LIFECYCLE
    + " } } }"
)
CHANGES = (
    "subscription($selector: String!) { sandboxChanges(filter: {labelSelector: $selector}, "
    "includeExisting: true) { type reason sandbox { " + LIFECYCLE + " } } }"
)


def sandbox_input(label: str, **spec: Any) -> Json:
    labels = [{"key": "gqltest", "value": label}, *spec.pop("labels", [])]
    return {"image": BUSYBOX, "labels": labels, **spec}
