"""The ``DateTime`` scalar: ISO-8601 in UTC with a ``Z``, e.g. ``2024-05-01T10:00:00.250000Z``.

Every time in the domain is timezone-aware; a naive one would be ambiguous, so serialising one is
a server bug (INTERNAL), and parsing a string without an offset is refused (BAD_USER_INPUT).
"""

from __future__ import annotations

from datetime import UTC, datetime

import strawberry
from graphql import GraphQLError
from strawberry.types.scalar import ScalarDefinition


def serialize_datetime(value: object) -> str:
    if not isinstance(value, datetime):
        raise TypeError(f"DateTime cannot represent {type(value).__name__}")
    if value.tzinfo is None:
        raise ValueError("DateTime cannot represent a naive datetime")
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_datetime(value: object) -> datetime:
    # GraphQLError (not ValueError) marks this as the client's mistake, not the server's.
    if not isinstance(value, str):
        raise GraphQLError("DateTime must be an ISO-8601 string")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise GraphQLError(f"{value!r} is not an ISO-8601 date and time") from None
    if parsed.tzinfo is None:
        raise GraphQLError(f"{value!r} has no timezone offset (add 'Z' for UTC)")
    return parsed.astimezone(UTC)


DATETIME_SCALAR: ScalarDefinition = strawberry.scalar(
    name="DateTime",
    description="An ISO-8601 date and time in UTC, e.g. 2024-05-01T10:00:00Z.",
    serialize=serialize_datetime,
    parse_value=parse_datetime,
)

SCALAR_MAP: dict[object, ScalarDefinition] = {datetime: DATETIME_SCALAR}
