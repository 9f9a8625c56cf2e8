"""ASGI middleware: the request id of every HTTP request and websocket, and the app's
observability in context for the code that serves it.

Why plain ASGI (not Starlette's ``BaseHTTPMiddleware``): a websocket passes through it too, the
response is not buffered, and the context variables set here are seen by the handler because it
runs in the same task (and by the tasks it starts, which copy the context).

The id is the client's ``X-Request-ID`` when it is sane (``app.observability.context``), else a
new one; it is echoed as ``X-Request-ID`` on the response, or on the websocket handshake's
response. On a websocket it becomes the ``connection_id`` of every line of its operations, each of
which gets a ``request_id`` of its own (``app.observability.runtime.observe_stream``).
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.observability.context import (
    CONNECTION_ID,
    CURRENT,
    REQUEST_ID,
    REQUEST_ID_HEADER,
    new_request_id,
    sane_request_id,
)
from app.observability.runtime import Observability

_HEADER = REQUEST_ID_HEADER.lower().encode("latin-1")


def _incoming_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == _HEADER:
            return sane_request_id(value.decode("latin-1"))
    return None


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, observability: Observability) -> None:
        self.app = app
        self.observability = observability

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request_id = _incoming_id(scope) or new_request_id()
        encoded = request_id.encode("latin-1")
        request_token = REQUEST_ID.set(request_id)
        current_token = CURRENT.set(self.observability)
        connection_token = CONNECTION_ID.set(request_id) if scope["type"] == "websocket" else None

        async def send_with_id(message: Message) -> None:
            if message["type"] in ("http.response.start", "websocket.accept"):
                headers = list(message.get("headers") or ())
                if not any(name.lower() == _HEADER for name, _ in headers):
                    headers.append((_HEADER, encoded))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if connection_token is not None:
                CONNECTION_ID.reset(connection_token)
            CURRENT.reset(current_token)
            REQUEST_ID.reset(request_token)
