"""Per-tenant limits: how many sandboxes a tenant may have, how many subscriptions it may hold.

Both answer QUOTA_EXCEEDED (not RATE_LIMITED): waiting does not help, deleting a sandbox or
closing a subscription does.

Sandboxes (``Server.MaxSandboxesPerTenant``) are counted from the informer's store: the
tenant's pods not yet being deleted, finished ones included (they hold their pod until cleaned
up). The store is the cluster's state, so every replica counts the same and a restart forgets
nothing. On one replica a tenant's creations are serialised, from the count until the new pod is
in the store, so a burst cannot overshoot; two replicas creating for one tenant within the
watch's delay (milliseconds) can each pass, so the limit holds to within the replica count.

Subscriptions (``Server.MaxSubscriptionsPerTenant``) are counted in each replica's memory: a
subscription holds a queue and a task on the replica serving it, which is what the limit
protects. A websocket connection also has its own limit (``app.graphql.limits``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Iterable, Iterator

from app.models import QuotaExceeded, Sandbox
from app.sandboxes.tenancy import tenant_of


class TenantQuotas:
    def __init__(self, *, max_sandboxes: int | None, max_subscriptions: int | None) -> None:
        self.max_sandboxes = max_sandboxes
        self.max_subscriptions = max_subscriptions
        self._creation_locks: dict[str | None, asyncio.Lock] = {}
        self._subscriptions: Counter[str | None] = Counter()

    def sandbox_count(self, tenant: str, sandboxes: Iterable[Sandbox]) -> int:
        return sum(1 for s in sandboxes if not s.terminating and tenant_of(s) == tenant)

    def check_sandboxes(self, tenant: str | None, sandboxes: Iterable[Sandbox]) -> None:
        """Raise QuotaExceeded if ``tenant`` may not have one more sandbox."""
        if self.max_sandboxes is None or tenant is None:
            return
        count = self.sandbox_count(tenant, sandboxes)
        if count >= self.max_sandboxes:
            raise QuotaExceeded(
                f"tenant {tenant!r} has {count} sandboxes, the most it may have is "
                f"{self.max_sandboxes}; delete some first"
            )

    def creation_lock(self, tenant: str | None) -> asyncio.Lock:
        """Held by a create from the count until its pod is in the store."""
        lock = self._creation_locks.get(tenant)
        if lock is None:
            lock = self._creation_locks[tenant] = asyncio.Lock()
        return lock

    def subscriptions(self, tenant: str | None) -> int:
        return self._subscriptions[tenant]

    @contextlib.contextmanager
    def subscription(self, tenant: str | None) -> Iterator[None]:
        """Count one open subscription of ``tenant`` while the block runs."""
        if self.max_subscriptions is not None and (
            self._subscriptions[tenant] >= self.max_subscriptions
        ):
            raise QuotaExceeded(
                f"at most {self.max_subscriptions} subscriptions may be open at once for a "
                "tenant; close some first"
            )
        self._subscriptions[tenant] += 1
        try:
            yield
        finally:
            self._subscriptions[tenant] -= 1
            if self._subscriptions[tenant] <= 0:
                del self._subscriptions[tenant]
