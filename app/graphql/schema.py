"""The strawberry schema of the API.

Websocket operations (``stream``) pass through ``app.observability.runtime.observe_stream``: a
request id per operation, and the graceful shutdown's final message for subscriptions.
``OperationMetrics`` comes before ``ErrorMapper`` so that it counts errors by their mapped code.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from graphql import GraphQLError
from strawberry import Schema
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.schema import StreamResult
from strawberry.types import ExecutionContext, ExecutionResult
from strawberry.types.graphql import OperationType

from app.graphql.errors import ErrorMapper
from app.graphql.limits import limit_extensions
from app.graphql.mutations import Mutation
from app.graphql.queries import Query
from app.graphql.scalars import SCALAR_MAP
from app.graphql.subscriptions import Subscription
from app.graphql.validation_memo import document_caches
from app.observability.operations import OperationMetrics
from app.observability.runtime import observe_stream


class SandboxSchema(Schema):
    async def execute(
        self,
        query: str | None,
        variable_values: dict[str, Any] | None = None,
        context_value: Any | None = None,
        root_value: Any | None = None,
        operation_name: str | None = None,
        allowed_operation_types: Iterable[OperationType] | None = None,
        operation_extensions: dict[str, Any] | None = None,
    ) -> ExecutionResult:
        """Queries and mutations; a subscription sent here (a plain HTTP request) is refused.

        Subscriptions are served over websockets, through ``stream``; ``execute`` would run the
        subscription's resolver as if it were a query and fail with an internal error.
        """
        allowed = set(allowed_operation_types or (OperationType.QUERY, OperationType.MUTATION))
        allowed.discard(OperationType.SUBSCRIPTION)
        return await super().execute(
            query,
            variable_values,
            context_value,
            root_value,
            operation_name,
            allowed,
            operation_extensions,
        )

    async def stream(
        self,
        query: str | None,
        variable_values: dict[str, Any] | None = None,
        context_value: Any | None = None,
        root_value: Any | None = None,
        operation_name: str | None = None,
        operation_extensions: dict[str, Any] | None = None,
        allowed_operation_types: Iterable[OperationType] | None = None,
    ) -> StreamResult:
        source = await super().stream(
            query,
            variable_values,
            context_value,
            root_value,
            operation_name,
            operation_extensions,
            allowed_operation_types,
        )
        return observe_stream(source, query, operation_name)

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Logged by :class:`ErrorMapper` instead, once per error and at a fitting level."""


def build_schema() -> SandboxSchema:
    return SandboxSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=[*document_caches(), *limit_extensions(), OperationMetrics, ErrorMapper],
        config=StrawberryConfig(scalar_map=SCALAR_MAP),
    )


schema = build_schema()
