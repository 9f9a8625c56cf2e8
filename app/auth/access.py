"""What the server builds once at startup for authentication and tenant limits."""

from __future__ import annotations

from dataclasses import dataclass

from app.auth.authenticator import Authenticator
from app.auth.quotas import TenantQuotas
from app.config import ServerSettings


@dataclass(frozen=True, slots=True)
class AccessControl:
    authenticator: Authenticator
    quotas: TenantQuotas

    @classmethod
    def from_settings(cls, server: ServerSettings) -> AccessControl:
        """From ``Server.*``; logs a WARNING when authentication is off or has no tokens file."""
        return cls(
            authenticator=Authenticator.from_settings(server),
            quotas=TenantQuotas(
                max_sandboxes=server.max_sandboxes_per_tenant,
                max_subscriptions=server.max_subscriptions_per_tenant,
            ),
        )
