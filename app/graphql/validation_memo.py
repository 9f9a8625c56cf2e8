"""Parse and validate each distinct document once, not on every request.

Clients send the same few documents over and over (a dashboard's query, the createSandbox
mutation with new variables each time). graphql-core takes ~0.3-1 ms to parse such a document
and ~3.5 ms to validate it against this schema, before anything is executed: most of what
``createSandbox`` costs beyond the apiserver's own time.

- Parsing: strawberry's ``ParserCache``, keyed on the document text and the parse options (the
  token limit among them), so a document over the limit is refused every time, never cached.
- Validation: strawberry's ``ValidationCache`` cannot help here, because the limit extensions
  (``app.graphql.limits``) build new rule classes per operation and the rules are part of its
  key. The rules are the same on every request, so :class:`ValidationMemo` remembers the texts
  of documents that passed them all and skips validating those again. Documents that failed are
  validated again each time: their errors are built afresh, never shared between requests.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator

from strawberry.extensions import ParserCache, SchemaExtension

MAX_DOCUMENTS = 1024

_valid: OrderedDict[str, None] = OrderedDict()


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
    return [lambda: ParserCache(maxsize=MAX_DOCUMENTS), ValidationMemo]
