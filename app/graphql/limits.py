"""Limits on what one request may ask, so no query costs the server or the cluster much.

- Depth 10: the deepest useful selection is ``sandboxes.edges.node.resources.requests.memoryMi``
  (6); introspection fields are not counted, so GraphiQL's schema query passes.
- 30 aliases: enough to fetch a few sandboxes by name in one request, not thousands.
- 3000 tokens per document: GraphiQL's introspection query is ~400.
- Page size: ``Server.MaxPageSize`` (``first`` beyond it is BAD_USER_INPUT).
- 20 operations in flight per websocket connection (strawberry answers "Subscription limit
  reached" beyond that); a browser tab rarely needs more than a handful.
- Nested ``logs`` are read at most 8 at a time per request (``context.LOG_READ_CONCURRENCY``),
  ``events(limit)`` at most 1000, ``tailLines`` at most 10000.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from strawberry.extensions import (
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
    SchemaExtension,
)

MAX_QUERY_DEPTH = 10
MAX_ALIASES = 30
MAX_TOKENS = 3000
MAX_OPERATIONS_PER_CONNECTION = 20


def limit_extensions() -> list[Callable[[], SchemaExtension]]:
    """Factories (strawberry makes one extension per operation)."""
    return [
        functools.partial(MaxTokensLimiter, max_token_count=MAX_TOKENS),
        functools.partial(QueryDepthLimiter, max_depth=MAX_QUERY_DEPTH),
        functools.partial(MaxAliasesLimiter, max_alias_count=MAX_ALIASES),
    ]
