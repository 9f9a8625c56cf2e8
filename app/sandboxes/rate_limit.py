"""At most N sandbox creations per rolling minute, the same limit on every replica.

Each Kata sandbox boots a VM, which loads its node for many seconds, so creation is rate limited
(``Kubernetes.MaxCreationsPerMinute``). The count is derived from the cluster, not kept per
process: the pods in the informer's store whose ``kata-sandbox-api/created-at`` annotation lies
within the last 60 seconds. Every replica watches the same pods, so they agree, and a restart
forgets nothing.

A refused create gets RATE_LIMITED with ``retryAfterSeconds``: how long until enough of the
window's creations have aged out of it for one more (computed from their creation times).

Bounds of this approach, by design:

- creations racing on *different* replicas within the watch's propagation delay (milliseconds)
  can each pass; within one replica, creations in flight are counted as reservations, so a
  burst on one replica cannot overshoot;
- a sandbox created and deleted within the minute no longer counts (its pod is gone).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from app.models import RateLimited, Sandbox

WINDOW = timedelta(seconds=60)


def creations_in_window(
    created: Iterable[datetime], now: datetime, window: timedelta = WINDOW
) -> list[datetime]:
    """The creation times within ``(now - window, now]``, oldest first."""
    start = now - window
    return sorted(t for t in created if start < t <= now)


def retry_after_seconds(
    recent: list[datetime], now: datetime, limit: int, window: timedelta = WINDOW
) -> float:
    """Seconds until fewer than ``limit`` of ``recent`` (sorted) remain in the window."""
    if len(recent) < limit:
        return 0.0
    # Once the (len - limit + 1) oldest have left, limit - 1 remain: room for one more.
    leaves_at = recent[len(recent) - limit] + window
    return max(1.0, float(math.ceil((leaves_at - now).total_seconds())))


class CreationRateLimiter:
    def __init__(
        self,
        limit: int | None,
        *,
        window: timedelta = WINDOW,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.limit = limit
        self.window = window
        self.clock = clock
        self._pending: dict[str, datetime] = {}

    def check(self, sandboxes: Iterable[Sandbox]) -> None:
        """Raise RateLimited if one more creation now would exceed the limit."""
        if self.limit is None:
            return
        now = self.clock()
        times = {s.name: s.created_at for s in sandboxes}
        times.update(self._pending)
        recent = creations_in_window(times.values(), now, self.window)
        if len(recent) >= self.limit:
            wait = retry_after_seconds(recent, now, self.limit, self.window)
            raise RateLimited(
                f"at most {self.limit} sandboxes may be created per minute; "
                f"retry in {wait:g} seconds",
                retry_after_seconds=wait,
            )

    @contextmanager
    def reserve(self, sandboxes: Iterable[Sandbox], name: str) -> Iterator[None]:
        """Check, then count ``name`` as created until the block ends (its pod is then in the
        store, or the create failed)."""
        self.check(sandboxes)
        self._pending[name] = self.clock()
        try:
            yield
        finally:
            self._pending.pop(name, None)
