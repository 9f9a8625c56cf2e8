"""Authentication, tenants and roles.

- ``principal``: who is calling (tenant + role: admin, user, viewer);
- ``tokens``: the tokens file (SHA-256 hashes only) and a store that re-reads it on change;
- ``authenticator``: Bearer credentials (HTTP header, websocket ``connection_init``) → principal;
- ``scoped``: the sandbox service limited to what one principal may see and do;
- ``quotas``: sandboxes and subscriptions per tenant;
- ``python -m app.auth add-token``: mint a token, store its hash (``app.auth.cli``).

Layering: ``config → kube → sandboxes → auth → graphql → server``. Nothing here knows GraphQL;
``app.graphql.view`` applies it to requests and websockets.
"""

from app.auth.access import AccessControl
from app.auth.authenticator import Authenticator
from app.auth.principal import AUTH_DISABLED_PRINCIPAL, Principal, Role
from app.auth.quotas import TenantQuotas
from app.auth.scoped import ScopedSandboxes
from app.auth.tokens import TokenFileError, TokenRecord, TokenStore, generate_token, hash_token

__all__ = [
    "AUTH_DISABLED_PRINCIPAL",
    "AccessControl",
    "Authenticator",
    "Principal",
    "Role",
    "ScopedSandboxes",
    "TenantQuotas",
    "TokenFileError",
    "TokenRecord",
    "TokenStore",
    "generate_token",
    "hash_token",
]
