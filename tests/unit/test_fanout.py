"""Which subscriptions share an execution (``app.graphql.fanout``), and a slow member's cut-off."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any, cast

import pytest

from app.auth import Principal, Role
from app.graphql import fanout
from app.graphql.fanout import MEMBER_QUEUE, FanoutHub

ALICE = Principal("team-a", Role.USER, "alice", "a" * 64)
BOB = Principal("team-b", Role.USER, "bob", "b" * 64)
CHANGES = "subscription($f: SandboxFilter) { sandboxChanges(filter: $f) { type } }"


def key(query: str, variables: dict[str, Any] | None = None, principal: Any = ALICE) -> Any:
    operation = SimpleNamespace(query=query, variables=variables, operation_name=None)
    context = SimpleNamespace(authenticated=principal)
    return FanoutHub().key(cast(Any, operation), context)


@pytest.mark.parametrize(
    ("query", "variables"),
    [
        (CHANGES, {"f": {"labelSelector": "a=b"}}),
        ("subscription { sandboxChanges(includeExisting: false) { type } }", None),
        ("subscription { c: sandboxChanges(includeExisting: null) { type } }", None),
        (
            "subscription($e: Boolean) { sandboxChanges(includeExisting: $e) { type } }",
            {"e": False},
        ),
        ("subscription($e: Boolean) { sandboxChanges(includeExisting: $e) { type } }", None),
    ],
)
def test_changes_without_a_snapshot_are_shared(
    query: str, variables: dict[str, Any] | None
) -> None:
    assert key(query, variables) is not None


@pytest.mark.parametrize(
    ("query", "variables"),
    [
        ("subscription { sandboxChanges(includeExisting: true) { type } }", None),
        (
            "subscription($e: Boolean) { sandboxChanges(includeExisting: $e) { type } }",
            {"e": True},
        ),
        (
            "subscription($e: Boolean = true) { sandboxChanges(includeExisting: $e) { type } }",
            None,
        ),
        ('subscription { sandboxUpdates(name: "x") { type } }', None),
        ('subscription { sandboxLogs(name: "x") }', None),
        ("subscription { a: sandboxChanges { type } b: sandboxChanges { type } }", None),
        ("subscription { sandboxChanges { type } ", None),  # does not parse
        ("{ sandboxes { totalCount } }", None),
    ],
)
def test_anything_else_runs_alone(query: str, variables: dict[str, Any] | None) -> None:
    assert key(query, variables) is None


def test_without_a_caller_nothing_is_shared() -> None:
    assert key(CHANGES, principal=None) is None


def test_the_caller_and_the_variables_are_part_of_the_key() -> None:
    assert key(CHANGES, {"f": {"ready": True}}) == key(CHANGES, {"f": {"ready": True}})
    assert key(CHANGES, {"f": {"ready": True}}) != key(CHANGES, {"f": {"ready": False}})
    assert key(CHANGES, principal=ALICE) != key(CHANGES, principal=BOB)


def test_a_member_that_falls_behind_is_cut_off_alone() -> None:
    operation = SimpleNamespace(id="7", completed=False)
    slow = fanout._Member(cast(Any, SimpleNamespace()), cast(Any, operation))
    for n in range(MEMBER_QUEUE + 10):
        slow.offer(f'{{"n":{n}}}')
    assert slow.cut_off
    items = [slow.queue.get_nowait() for _ in range(slow.queue.qsize())]
    assert items[-1] is fanout._END
    last = json.loads(str(items[-2]))
    assert last["data"] is None
    assert last["errors"][0]["extensions"]["code"] == "UNAVAILABLE"
    assert len(items) == MEMBER_QUEUE + 2
