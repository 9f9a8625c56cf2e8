"""Parse and validate each distinct document once, not on every request.

Clients send the same few documents over and over (a dashboard's query, the createSandbox
mutation with new variables each time). graphql-core takes ~0.3-1 ms to parse such a document
and ~3.5 ms to validate it against this schema, before anything is executed: most of what
``createSandbox`` costs beyond the apiserver's own time.

- Parsing: documents that parse are kept (LRU), keyed on the text and the parse options (the
  token limit among them). One that does not parse is left to strawberry, which parses it again
  and reports the error as always (BAD_USER_INPUT), so errors are never cached.
- Validation: strawberry's ``ValidationCache`` cannot help here, because the limit extensions
  (``app.graphql.limits``) build new rule classes per operation and the rules are part of its
  key. The rules are the same on every request, so :class:`ValidationMemo` remembers the texts
  of documents that passed them all and skips validating those again. Documents that failed are
  validated again each time: their errors are built afresh, never shared between requests.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any

from graphql import DocumentNode, GraphQLError, parse
from strawberry.extensions import SchemaExtension

MAX_DOCUMENTS = 1024

_valid: OrderedDict[str, None] = OrderedDict()
_parsed: OrderedDict[tuple[str, tuple[tuple[str, Any], ...]], DocumentNode] = OrderedDict()


class ParseMemo(SchemaExtension):
    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        query = context.query
        if query is not None and context.graphql_document is None:
            key = (query, tuple(sorted(context.parse_options.items())))
            document = _parsed.get(key)
            if document is None:
                try:
                    document = parse(query, **context.parse_options)
                except GraphQLError:
                    document = None  # strawberry parses it again and reports the error
                else:
                    _parsed[key] = document
                    if len(_parsed) > MAX_DOCUMENTS:
                        _parsed.popitem(last=False)
            else:
                _parsed.move_to_end(key)
            context.graphql_document = document
        yield


class ValidationMemo(SchemaExtension):
    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        query = context.query
        known = query is not None and query in _valid
        if known and query is not None:
            _valid.move_to_end(query)
            context.pre_execution_errors = []  # strawberry then skips its validation
        yield
        if not known and query is not None and context.pre_execution_errors == []:
            _valid[query] = None
            if len(_valid) > MAX_DOCUMENTS:
                _valid.popitem(last=False)


def document_caches() -> list[Callable[[], SchemaExtension]]:
    """Factories for the schema's extensions (strawberry makes them per operation)."""
    return [ParseMemo, ValidationMemo]
