"""Documents are validated once while they pass; failures are validated (and refused) each time."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import pytest
import strawberry.schema.schema as strawberry_schema

from app.graphql import validation_memo
from app.graphql.context import GraphQLContext
from app.graphql.limits import MAX_ALIASES
from app.graphql.schema import schema


@pytest.fixture
def validations(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    monkeypatch.setattr(validation_memo, "_valid", OrderedDict())
    seen: list[str] = []
    original = strawberry_schema.validate_document

    def counting(*args: Any) -> Any:
        seen.append("validated")
        return original(*args)

    monkeypatch.setattr(strawberry_schema, "validate_document", counting)
    return seen


async def execute(query: str) -> list[str]:
    result = await schema.execute(query, context_value=GraphQLContext(backend=None))
    return [error.message for error in result.errors or []]


async def test_a_valid_document_is_validated_once(validations: list[str]) -> None:
    query = '{ sandbox(name: "x") { name } }'
    for _ in range(3):
        errors = await execute(query)
        assert errors  # executed, and without a backend: UNAVAILABLE
        assert "starting or shutting down" in errors[0]
    assert validations == ["validated"]


async def test_invalid_documents_are_refused_every_time(validations: list[str]) -> None:
    for _ in range(2):
        assert "Cannot query field 'nope'" in (await execute("{ nope }"))[0]
    aliased = "{ " + " ".join(f"a{n}: __typename" for n in range(MAX_ALIASES + 1)) + " }"
    for _ in range(2):
        errors = await execute(aliased)
        assert any("aliases found" in e for e in errors), errors
    assert len(validations) == 4
