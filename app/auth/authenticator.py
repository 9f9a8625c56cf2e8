"""From credentials as a client sends them to a :class:`Principal`, or UNAUTHENTICATED.

Over HTTP the token comes in the ``Authorization: Bearer <token>`` header. Over a websocket it
comes in the ``connection_init`` payload as ``{"Authorization": "Bearer <token>"}`` (the key in
any case, as browsers cannot set headers on a websocket); a non-browser client may send the
header on the upgrade request instead. The scheme is case-insensitive (RFC 7235).

Failures say what was wrong with the request (no credentials, not a Bearer token, not a known
token) but never echo the token. A refusal is logged at INFO with the client's address only.

Authentication can be switched off only by ``Server.AuthDisabled=true`` (development: ``make
dev``); every request then acts as an admin without a tenant, and startup logs a WARNING.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from app.auth.principal import AUTH_DISABLED_PRINCIPAL, Principal
from app.auth.tokens import MAX_TOKEN_LENGTH, TokenStore
from app.config import ServerSettings
from app.models import Unauthenticated

log = logging.getLogger(__name__)

AUTHORIZATION = "authorization"
BEARER = "bearer"
MISSING = "authentication required: send the header 'Authorization: Bearer <token>'"
MALFORMED = "the Authorization value must be 'Bearer <token>'"
INVALID = "the API token is not valid (unknown or revoked)"


def bearer_token(value: str | None) -> str:
    """The token of an ``Authorization`` value; UNAUTHENTICATED if there is none."""
    if value is None or not value.strip():
        raise Unauthenticated(MISSING)
    scheme, _, token = value.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != BEARER or not token:
        raise Unauthenticated(MALFORMED)
    if len(token) > MAX_TOKEN_LENGTH or not token.isascii() or not token.isprintable():
        raise Unauthenticated(INVALID)
    return token


def authorization_param(params: Mapping[str, object] | None) -> str | None:
    """The ``Authorization`` entry of a ``connection_init`` payload, its key in any case."""
    if not params:
        return None
    for key, value in params.items():
        if isinstance(key, str) and key.lower() == AUTHORIZATION:
            if not isinstance(value, str):
                raise Unauthenticated(MALFORMED)
            return value
    return None


class Authenticator:
    def __init__(self, store: TokenStore | None, *, disabled: bool = False) -> None:
        self.store = store
        self.disabled = disabled

    @classmethod
    def from_settings(cls, server: ServerSettings) -> Authenticator:
        """The authenticator the settings ask for; warns at startup when it lets anyone in."""
        if server.auth_disabled:
            log.warning(
                "authentication is DISABLED (Server.AuthDisabled=true): every request acts as an "
                "admin. Use this for development only."
            )
            return cls(None, disabled=True)
        store = TokenStore(server.api_tokens_path)
        if server.api_tokens_path is None:
            log.warning(
                "no API tokens file is configured (Server.ApiTokensPath / API_TOKENS_PATH): "
                "every request is refused"
            )
        else:
            store.refresh()
        return cls(store)

    def authenticate(self, authorization: str | None, *, client: str = "-") -> Principal:
        """The caller of an ``Authorization`` value; raises ``Unauthenticated``."""
        if self.disabled:
            return AUTH_DISABLED_PRINCIPAL
        try:
            token = bearer_token(authorization)
            record = self.store.lookup(token) if self.store is not None else None
            if record is None:
                raise Unauthenticated(INVALID)
        except Unauthenticated as refused:
            log.info("refused a request from %s: %s", client, refused.message)
            raise
        return record.principal()

    def revalidate(self, principal: Principal) -> Principal:
        """``principal`` as the token file has it now; UNAUTHENTICATED once it is revoked.

        A websocket authenticates once, at ``connection_init``, and may stay open for hours;
        every operation it starts checks again, so removing a token from the file (or changing
        its role or tenant) takes effect for connections already open.
        """
        if self.disabled:
            return principal
        if principal.token_hash is None:
            raise Unauthenticated(INVALID)
        record = self.store.record_for_hash(principal.token_hash) if self.store else None
        if record is None:
            raise Unauthenticated(INVALID)
        return record.principal()
