"""The sandbox service as one caller may use it: its tenant's sandboxes, and writes by role.

Every resolver goes through this (``GraphQLContext.service()`` returns one), so scoping is not
something each resolver has to remember:

- reads (``get``, ``require``, ``find``, ``page``, logs) see only the caller's tenant, unless the
  caller is an admin. Another tenant's sandbox is answered exactly as a sandbox that does not
  exist (null, NOT_FOUND with the same message), so names cannot be probed;
- writes need the ``user`` or ``admin`` role (FORBIDDEN for a ``viewer``) and reach only what
  the caller can read: a bulk delete or a cleanup never touches another tenant's sandboxes;
- a create stamps the caller's tenant on the spec (the pod's tenant label) and counts against
  the tenant's sandbox quota (``app.auth.quotas``). An idempotent retry of a create that already
  succeeded is answered even at the quota: it creates nothing.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncGenerator

from app.auth.principal import Principal
from app.auth.quotas import TenantQuotas
from app.kube.informer import OrderKey
from app.kube.pods import LogOptions
from app.models import Forbidden, NotFound, Sandbox, SandboxSpec
from app.sandboxes.expiry import check_ttl
from app.sandboxes.idempotency import find_by_key
from app.sandboxes.service import Page, SandboxFilter, SandboxService
from app.sandboxes.tenancy import belongs_to, tenant_of
from app.sandboxes.validation import validate_spec


class ScopedSandboxes:
    def __init__(self, service: SandboxService, principal: Principal, quotas: TenantQuotas) -> None:
        self.service = service
        self.principal = principal
        self.quotas = quotas

    # -- reads -------------------------------------------------------------------------------

    def visible(self, sandbox: Sandbox) -> bool:
        return belongs_to(sandbox, self.principal.scope)

    def get(self, name: str) -> Sandbox | None:
        sandbox = self.service.get(name)
        return sandbox if sandbox is not None and self.visible(sandbox) else None

    def require(self, name: str) -> Sandbox:
        sandbox = self.get(name)
        if sandbox is None:
            raise NotFound(f"sandbox {name!r} does not exist")
        return sandbox

    def scoped_filter(self, sandbox_filter: SandboxFilter | None) -> SandboxFilter | None:
        """``sandbox_filter`` narrowed to the caller's tenant (unchanged for an admin)."""
        scope = self.principal.scope
        if scope is None:
            return sandbox_filter
        return dataclasses.replace(sandbox_filter or SandboxFilter(), tenant=scope)

    def find(self, sandbox_filter: SandboxFilter | None = None) -> list[Sandbox]:
        return self.service.find(self.scoped_filter(sandbox_filter))

    def page(
        self, sandbox_filter: SandboxFilter | None, *, first: int, after: OrderKey | None = None
    ) -> Page:
        return self.service.page(self.scoped_filter(sandbox_filter), first=first, after=after)

    async def logs(self, name: str, options: LogOptions) -> str:
        self.require(name)
        return await self.service.logs(name, options)

    def follow_logs(self, name: str, options: LogOptions) -> AsyncGenerator[str]:
        self.require(name)
        return self.service.follow_logs(name, options)

    # -- writes ------------------------------------------------------------------------------

    def require_write(self) -> None:
        if not self.principal.can_write:
            raise Forbidden(
                f"the {self.principal.role.value} role may read sandboxes but not create, "
                "change or delete them"
            )

    def _replays(self, spec: SandboxSpec) -> bool:
        """Whether the create is a retry that the service answers from an existing sandbox."""
        if spec.idempotency_key is None:
            return False
        own = [s for s in self.service.informer.sandboxes() if tenant_of(s) == spec.tenant]
        return find_by_key(own, spec.idempotency_key) is not None

    async def create(self, spec: SandboxSpec, *, wait_for_ready: bool = False) -> Sandbox:
        self.require_write()
        spec = dataclasses.replace(spec, tenant=self.principal.tenant)
        quotas = self.quotas
        if quotas.max_sandboxes is None or spec.tenant is None:
            return await self.service.create(spec, wait_for_ready=wait_for_ready)
        # Input errors first: a bad request is BAD_USER_INPUT even for a tenant at its quota.
        validate_spec(spec, self.service.settings)
        async with quotas.creation_lock(spec.tenant):
            if not self._replays(spec):
                quotas.check_sandboxes(spec.tenant, self.service.informer.sandboxes())
            created = await self.service.create(spec, wait_for_ready=False)
        if not wait_for_ready:
            return created
        # What service.create does with wait_for_ready, outside the lock: others may create.
        timeout = spec.ready_timeout_seconds or self.service.settings.default_ready_timeout_seconds
        return await self.service.wait_ready(created.name, timeout=timeout)

    async def extend(self, name: str, ttl_seconds: int, *, field: str = "ttlSeconds") -> Sandbox:
        self.require_write()
        check_ttl(ttl_seconds, self.service.settings, field)  # input errors before NOT_FOUND
        self.require(name)
        return await self.service.extend(name, ttl_seconds, field=field)

    async def delete(
        self, name: str, *, grace_period_seconds: int | None = None, force: bool = False
    ) -> list[str]:
        self.require_write()
        self.require(name)
        return await self.service.delete(
            name, grace_period_seconds=grace_period_seconds, force=force
        )

    async def delete_matching(
        self,
        label_selector: str,
        *,
        grace_period_seconds: int | None = None,
        force: bool = False,
        field: str = "labelSelector",
    ) -> list[str]:
        self.require_write()
        return await self.service.delete_matching(
            label_selector,
            grace_period_seconds=grace_period_seconds,
            force=force,
            field=field,
            tenant=self.principal.scope,
        )

    async def cleanup(
        self, *, completed: bool = True, older_than_seconds: int | None = None
    ) -> list[str]:
        self.require_write()
        return await self.service.cleanup(
            completed=completed, older_than_seconds=older_than_seconds, tenant=self.principal.scope
        )

    def subscription(self) -> contextlib.AbstractContextManager[None]:
        """Hold one of the tenant's subscription slots while a subscription runs."""
        return self.quotas.subscription(self.principal.tenant)
