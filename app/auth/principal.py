"""Who is calling: a tenant and a role, resolved from an API token.

Roles, from most to least powerful:

- ``admin`` sees and changes every sandbox, whatever its tenant;
- ``user`` sees, watches, reads the logs of, creates and deletes its own tenant's sandboxes;
- ``viewer`` sees, watches and reads the logs of its own tenant's sandboxes, and changes nothing.

A sandbox belongs to the tenant of the token that created it (the label
``kata-sandbox-api/tenant``). Tenants are names, not secrets: several tokens (people, CI jobs)
may share one, and each token has its own role.

With authentication switched off (``Server.AuthDisabled``, development only) every request acts
as :data:`AUTH_DISABLED_PRINCIPAL`: an admin without a tenant, so its sandboxes carry no tenant
label and the service behaves as it did before tenants existed.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Role(enum.Enum):
    ADMIN = "admin"
    USER = "user"
    VIEWER = "viewer"


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller.

    ``token_id`` names the token in logs (never the token itself); ``token_hash`` is its SHA-256,
    kept so a long-lived websocket can be checked again when the token file changes.
    """

    tenant: str | None
    role: Role
    token_id: str
    token_hash: str | None = None

    @property
    def sees_all(self) -> bool:
        """Whether the caller sees every tenant's sandboxes (admins only)."""
        return self.role is Role.ADMIN

    @property
    def can_write(self) -> bool:
        """Whether the caller may create, extend or delete sandboxes."""
        return self.role in (Role.ADMIN, Role.USER)

    @property
    def scope(self) -> str | None:
        """The tenant whose sandboxes the caller is limited to; None: all of them."""
        return None if self.sees_all else self.tenant

    def __str__(self) -> str:
        return f"{self.token_id} ({self.role.value} of tenant {self.tenant or '-'})"


AUTH_DISABLED_PRINCIPAL = Principal(tenant=None, role=Role.ADMIN, token_id="auth-disabled")
