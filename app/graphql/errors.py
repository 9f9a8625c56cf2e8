"""How errors reach clients: ``extensions.code`` always, details never.

- A ``SandboxError`` becomes its message with its ``extensions()`` (``code``, and ``field`` for
  BAD_USER_INPUT, ``reason``/``exitCode`` for SANDBOX_FAILED, ``retryAfterSeconds``, ...). Those
  messages are written for users (see ``app.models.errors``), except INTERNAL's, which are
  replaced by a generic one like any unexpected exception.
- An error GraphQL itself raised without an underlying exception (syntax, validation such as an
  unknown field or a limit, a variable of the wrong type) is the request's fault: BAD_USER_INPUT,
  with graphql-core's message, which only speaks about the document.
- Anything else is a bug: the client gets "Internal server error" with a ``reference`` that is
  also in the server's log, next to the stack trace.

The mapping runs as a schema extension on every result, including each result a subscription
streams (errors raised inside a subscription's generator arrive there without a path).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterator

from graphql import ExecutionResult as GraphQLExecutionResult
from graphql import GraphQLError
from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionResult as StrawberryExecutionResult
from strawberry.types.execution import StreamExecutionResult

from app.models import BadUserInput, Internal, SandboxError

log = logging.getLogger(__name__)

INTERNAL_MESSAGE = "Internal server error"
BAD_USER_INPUT = BadUserInput.code
INTERNAL = Internal.code


def _with(error: GraphQLError, message: str, extensions: dict[str, object]) -> GraphQLError:
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        original_error=None,
        extensions=extensions,
    )


def _underlying(error: GraphQLError) -> BaseException | None:
    cause: BaseException | None = error.original_error
    # graphql-core wraps errors into GraphQLErrors (e.g. a variable's coercion error, which has
    # no exception at its root): what counts is the exception at the end of the chain, if any.
    while isinstance(cause, GraphQLError):
        cause = cause.original_error
    return cause


def _internal(error: GraphQLError, cause: BaseException | None) -> GraphQLError:
    reference = secrets.token_hex(6)
    log.error(
        "internal error %s at %s: %s",
        reference,
        ".".join(str(p) for p in error.path or ()) or "-",
        error.message,
        exc_info=cause if cause is not None else None,
    )
    return _with(error, INTERNAL_MESSAGE, {"code": INTERNAL, "reference": reference})


def client_error(error: GraphQLError) -> GraphQLError:
    """The error as a client may see it."""
    cause = _underlying(error)
    if isinstance(cause, SandboxError):
        extensions = cause.extensions()
        if extensions.get("code") == INTERNAL:
            return _internal(error, cause)
        log.info("%s: %s", extensions.get("code"), cause.message)
        return _with(error, cause.message, extensions)
    if cause is None:
        # Parse/validation/coercion errors; already mapped ones pass through unchanged.
        if error.extensions and "code" in error.extensions:
            return error
        log.debug("rejected request: %s", error.message)
        return _with(error, error.message, {"code": BAD_USER_INPUT})
    return _internal(error, cause)


class ErrorMapper(SchemaExtension):
    """Rewrites every error of every result with :func:`client_error`."""

    def __init__(self) -> None:
        self._streamed = False

    def _map(self, result: object) -> None:
        if isinstance(result, GraphQLExecutionResult | StrawberryExecutionResult) and result.errors:
            result.errors = [client_error(error) for error in result.errors]

    def on_operation(self) -> Iterator[None]:
        self._streamed = False
        yield
        if not self._streamed:
            self._map(self.execution_context.result)

    def on_stream_result(self, result: StreamExecutionResult) -> Iterator[None]:
        self._streamed = True
        self._map(result)
        yield
