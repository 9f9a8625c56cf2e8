"""Per-request values that every log line and metric of that request needs, as context variables.

Why context variables: a request's work is spread over code that does not pass a request object
around (the kube layer, the informer's waiters, strawberry's extensions), and a websocket runs
each GraphQL operation in a task of its own. A task copies the context it was created in, so a
value set where the request enters (the ASGI middleware) or where an operation starts (the
schema's ``stream``) is seen by everything that request or operation runs, and by nothing else.

- ``REQUEST_ID``: one per HTTP request (the client's ``X-Request-ID`` if it is sane, else a new
  one) and one per GraphQL operation on a websocket;
- ``CONNECTION_ID``: the request id of a websocket's handshake, on every line of its operations;
- ``CURRENT``: the running app's :class:`~app.observability.runtime.Observability`, so the
  process-wide strawberry schema reaches the metrics and the shutdown of the app serving it
  (tests run several apps in one process, each with its own registry).
"""

from __future__ import annotations

import re
import secrets
from contextvars import ContextVar
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.observability.runtime import Observability

REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)
CONNECTION_ID: ContextVar[str | None] = ContextVar("connection_id", default=None)
CURRENT: ContextVar[Observability | None] = ContextVar("observability", default=None)

REQUEST_ID_HEADER = "X-Request-ID"
# What a proxy or client may hand us: UUIDs, hex, ULIDs, "svc-1234.5" ... Anything else (spaces,
# quotes, control characters, kilobytes) would be injected into every log line of the request.
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}")


def new_request_id() -> str:
    return secrets.token_hex(8)


def sane_request_id(value: str | None) -> str | None:
    """``value`` if it may be used as a request id as is, else None."""
    if value is not None and _SANE_REQUEST_ID.fullmatch(value):
        return value
    return None


def log_fields() -> dict[str, str]:
    """The ids of the current request for a log line (absent ones left out)."""
    fields: dict[str, str] = {}
    request_id = REQUEST_ID.get()
    if request_id is not None:
        fields["request_id"] = request_id
    connection_id = CONNECTION_ID.get()
    if connection_id is not None:
        fields["connection_id"] = connection_id
    return fields
