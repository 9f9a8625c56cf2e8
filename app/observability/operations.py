"""Per-operation metrics and log lines, as a strawberry schema extension.

Why an extension: it sees every operation the same way whether it came over HTTP or a websocket,
after parsing (so it knows the operation's type and root fields) and after :class:`ErrorMapper`
gave every error its ``extensions.code`` (so errors are counted by the code the client got).
It must be listed *before* ``ErrorMapper``: hooks exit in reverse order, so its ``on_operation``
exit runs after the mapping.

The schema is one object per process; the metrics are per app. The extension finds the app
serving the operation through ``app.observability.context.CURRENT`` and records nothing when
there is none (the schema used outside a server, e.g. exported).

One log line per operation (logger ``app.graphql.operations``): INFO for mutations and
subscriptions (when they end), DEBUG for queries, with ``operation_type``, ``operation``,
``duration_ms`` and ``error_codes`` as fields.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from typing import Any

from graphql import DocumentNode, FieldNode, OperationDefinitionNode, value_from_ast_untyped
from graphql.utilities import get_operation_ast
from strawberry.extensions import SchemaExtension
from strawberry.types.execution import StreamExecutionResult

from app.observability.context import CURRENT

log = logging.getLogger("app.graphql.operations")

INVALID = "invalid"
CREATE_SANDBOX = "createSandbox"


def find_operation(
    document: DocumentNode | None, operation_name: str | None
) -> OperationDefinitionNode | None:
    if document is None:
        return None
    try:
        return get_operation_ast(document, operation_name)
    except Exception:  # an unknown or ambiguous operation name: GraphQL reports it
        return None


def root_fields(operation: OperationDefinitionNode | None) -> list[str]:
    if operation is None:
        return []
    return [s.name.value for s in operation.selection_set.selections if isinstance(s, FieldNode)]


def waits_for_ready(
    operation: OperationDefinitionNode | None, variables: dict[str, Any] | None
) -> bool:
    """Whether a ``createSandbox`` of this operation asked for ``waitForReady``."""
    if operation is None:
        return False
    for selection in operation.selection_set.selections:
        if not isinstance(selection, FieldNode) or selection.name.value != CREATE_SANDBOX:
            continue
        for argument in selection.arguments or ():
            if argument.name.value == "input":
                value = value_from_ast_untyped(argument.value, variables)
                return isinstance(value, dict) and bool(value.get("waitForReady"))
    return False


def error_codes(result: object) -> list[str]:
    errors: Sequence[Any] = getattr(result, "errors", None) or ()
    codes = []
    for error in errors:
        extensions = getattr(error, "extensions", None) or {}
        codes.append(str(extensions.get("code", "INTERNAL")))
    return codes


class OperationMetrics(SchemaExtension):
    def __init__(self) -> None:
        self._started = 0.0
        self._streamed = False
        self._streamed_codes: list[str] = []
        self._subscription: str | None = None

    def on_operation(self) -> Iterator[None]:
        self._started = time.perf_counter()
        self._streamed = False
        self._streamed_codes = []
        self._subscription = None
        try:
            yield
        finally:
            self._record(time.perf_counter() - self._started)

    def on_validate(self) -> Iterator[None]:
        yield
        context = self.execution_context
        observability = CURRENT.get()
        if observability is None or context.pre_execution_errors:
            return
        operation = find_operation(context.graphql_document, context.operation_name)
        if operation is not None and operation.operation.value == "subscription":
            fields = root_fields(operation)
            self._subscription = fields[0] if fields else INVALID
            observability.metrics.active_subscriptions.labels(self._subscription).inc()

    def on_stream_result(self, result: StreamExecutionResult) -> Iterator[None]:
        yield
        self._streamed = True
        self._streamed_codes.extend(error_codes(result))

    def _record(self, seconds: float) -> None:
        context = self.execution_context
        operation = find_operation(context.graphql_document, context.operation_name)
        kind = operation.operation.value if operation is not None else INVALID
        fields = root_fields(operation)
        codes = self._streamed_codes if self._streamed else error_codes(context.result)
        observability = CURRENT.get()
        label = (
            observability.metrics.operation_label(context.operation_name, fields)
            if observability is not None
            else ",".join(fields)
        )
        if observability is not None:
            metrics = observability.metrics
            metrics.operations.labels(kind, label).inc()
            for code in codes:
                metrics.operation_errors.labels(kind, label, code).inc()
            if kind in ("query", "mutation"):
                metrics.operation_duration.labels(kind).observe(seconds)
            if kind == "mutation" and CREATE_SANDBOX in fields:
                metrics.create_duration.labels(
                    str(waits_for_ready(operation, context.variables)).lower(),
                    codes[0] if codes else "ok",
                ).observe(seconds)
            if self._subscription is not None:
                metrics.active_subscriptions.labels(self._subscription).dec()
        log.log(
            logging.INFO if kind in ("mutation", "subscription") else logging.DEBUG,
            "graphql %s %s%s",
            kind,
            label,
            f" errors: {', '.join(codes)}" if codes else "",
            extra={
                "operation_type": kind,
                "operation": label,
                "duration_ms": round(seconds * 1000, 1),
                "error_codes": codes,
            },
        )
