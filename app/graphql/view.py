"""The GraphQL endpoint's gate: request size limits and authentication, before strawberry runs.

HTTP (``POST``/``GET /graphql``):

1. The body is read up to ``Server.MaxRequestBodyBytes``; a larger one (by ``Content-Length``
   or as it streams in) is answered ``413`` with a GraphQL-shaped body, code BAD_USER_INPUT.
2. The ``Authorization: Bearer <token>`` header is checked (``app.auth.authenticator``). Without
   a valid token the answer is ``401`` with ``WWW-Authenticate: Bearer`` and a GraphQL-shaped
   body (``{"errors": [{"message": ..., "extensions": {"code": "UNAUTHENTICATED"}}]}``, no
   ``data``): the status is what HTTP clients and proxies act on (Apollo Client and urql surface
   it as a network error with the parsed body), the code is what GraphQL clients read. Nothing
   of the document is parsed or executed first, so no data and no schema leak.
3. The GraphiQL page (a ``GET`` for HTML without a query) is served without a token: it is
   static, and a person pastes their token into its headers editor.

Websockets: every message is limited to the same size (a larger one closes the socket with 1009,
"message too big"). The token comes with ``connection_init`` (``{"Authorization": "Bearer
..."}``, key in any case), or failing that in the upgrade request's header. Refusals follow each
protocol: ``graphql-transport-ws`` closes with ``4403 Forbidden`` (its spec's code for a refused
``connection_init``; ``4401 Unauthorized`` is what a ``subscribe`` before the acknowledgement
gets), the legacy ``graphql-ws`` sends ``connection_error`` with the GraphQL error as payload and
then closes.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import Message, Receive, Scope, Send
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.types.unset import UnsetType

from app.auth.authenticator import authorization_param
from app.config import ServerSettings
from app.graphql.context import PRINCIPAL_STATE_KEY, Backend, GraphQLContext
from app.graphql.fanout import FanoutTransportWSHandler
from app.graphql.response_cache import ResponseCache
from app.models import BadUserInput, SandboxError, Unauthenticated, Unavailable

DEFAULT_MAX_BODY_BYTES = ServerSettings().max_request_body_bytes
# RFC 6455: "message too big".
WS_MESSAGE_TOO_BIG = 1009
WWW_AUTHENTICATE = 'Bearer realm="kata-sandbox-api"'


def error_response(error: SandboxError, status_code: int, **headers: str) -> JSONResponse:
    """A GraphQL-shaped error body with an HTTP status, for refusals before execution."""
    body = {"errors": [{"message": error.message, "extensions": error.extensions()}]}
    return JSONResponse(body, status_code=status_code, headers=headers or None)


class _TooLarge(Exception):
    pass


async def _read_body(scope: Scope, receive: Receive, limit: int) -> list[Message]:
    """The request's body messages, or ``_TooLarge`` past ``limit`` bytes."""
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                if int(value) > limit:
                    raise _TooLarge
            except ValueError:
                pass
    messages: list[Message] = []
    size = 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return messages
        size += len(message.get("body", b""))
        if size > limit:
            raise _TooLarge
        if not message.get("more_body", False):
            return messages


def _replay(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replayed() -> Message:
        return pending.pop(0) if pending else await receive()

    return replayed


def _limit_websocket(receive: Receive, send: Send, limit: int) -> tuple[Receive, Send]:
    closed = False

    async def limited_receive() -> Message:
        nonlocal closed
        message = await receive()
        if message["type"] == "websocket.receive":
            data = message.get("text")
            size = len(data.encode()) if data is not None else len(message.get("bytes") or b"")
            if size > limit:
                closed = True
                await send(
                    {"type": "websocket.close", "code": WS_MESSAGE_TOO_BIG, "reason": "too big"}
                )
                return {"type": "websocket.disconnect", "code": WS_MESSAGE_TOO_BIG}
        return message

    async def guarded_send(message: Message) -> None:
        if not closed:  # after our close, the handler's goodbyes have nowhere to go
            await send(message)

    return limited_receive, guarded_send


class SecureGraphQL(GraphQL[GraphQLContext, None]):
    """strawberry's ASGI view behind the gate above; ``current_backend`` supplies the settings
    and the authenticator of the running server."""

    current_backend: Callable[[], Backend | None]
    # Identical sandboxChanges subscriptions share one execution (issue 7).
    graphql_transport_ws_handler_class = FanoutTransportWSHandler

    def __init__(self, *args: Any, backend: Callable[[], Backend | None], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.current_backend = backend
        # Repeated identical queries (issue 7); None turns it off.
        self.response_cache: ResponseCache | None = ResponseCache.of(self.schema)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        backend = self.current_backend()
        limit = backend.server.max_request_body_bytes if backend else DEFAULT_MAX_BODY_BYTES
        if scope["type"] == "websocket":
            receive, send = _limit_websocket(receive, send, limit)
        elif scope["type"] == "http":
            try:
                messages = await _read_body(scope, receive, limit)
            except _TooLarge:
                refusal = BadUserInput(f"the request body exceeds {limit} bytes")
                await error_response(refusal, 413, Connection="close")(scope, receive, send)
                return
            receive = _replay(messages, receive)
            refused = self._authenticate_http(scope, receive, backend)
            if refused is not None:
                await refused(scope, receive, send)
                return
            if self.response_cache is not None:
                call_next = functools.partial(super().__call__, scope)
                await self.response_cache.serve(scope, messages, send, backend, call_next, receive)
                return
        await super().__call__(scope, receive, send)

    def _authenticate_http(
        self, scope: Scope, receive: Receive, backend: Backend | None
    ) -> Callable[[Scope, Receive, Send], Awaitable[None]] | None:
        """Leave the principal in the request's state; or the response refusing the request."""
        request = Request(scope, receive)
        if self.graphql_ide and self.should_render_graphql_ide(self.request_adapter_class(request)):
            return None
        if backend is None:
            unavailable = Unavailable("the service is starting or shutting down; retry shortly")
            return error_response(unavailable, 503)
        client = request.client.host if request.client else "-"
        try:
            principal = backend.access.authenticator.authenticate(
                request.headers.get("authorization"), client=client
            )
        except Unauthenticated as refused:
            return error_response(refused, 401, **{"WWW-Authenticate": WWW_AUTHENTICATE})
        scope.setdefault("state", {})[PRINCIPAL_STATE_KEY] = principal
        return None

    async def on_ws_connect(self, context: GraphQLContext) -> UnsetType | dict[str, object] | None:
        """Authenticate ``connection_init``; a refusal is closed as the protocol says."""
        backend = context.backend
        try:
            if backend is None:
                raise Unavailable("the service is starting or shutting down; retry shortly")
            authorization = authorization_param(context.connection_params)
            request = context.request
            if authorization is None and request is not None:
                authorization = request.headers.get("authorization")
            client = request.client.host if request is not None and request.client else "-"
            context.authenticated = backend.access.authenticator.authenticate(
                authorization, client=client
            )
        except SandboxError as refused:
            payload: dict[str, object] = {
                "message": refused.message,
                "extensions": refused.extensions(),
            }
            raise ConnectionRejectionError(payload) from None
        return await super().on_ws_connect(context)
