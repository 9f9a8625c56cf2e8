"""Leader election on a Lease, as client-go's ``leaderelection`` package does it.

Every replica runs a :class:`LeaderElector` with its own identity. Each retry period it reads
the Lease and:

- creates it if there is none (409 AlreadyExists: someone else was first);
- renews it if it holds it (``renewTime`` = now);
- takes it over if the holder is empty (released) or its record has not changed for
  ``leaseDurationSeconds`` *as observed locally*: the time is measured on this replica's
  monotonic clock from the moment it first saw the current record, never by comparing
  ``renewTime`` with the local wall clock, so clock skew between nodes cannot make two leaders;
- otherwise waits.

Every write is a compare-and-swap on the resourceVersion it read (``app.kube.lease``), so of
two replicas acting on the same record only one succeeds; the other gets 409 and is no leader.

A leader that has not renewed for ``RenewDeadlineSeconds`` (< ``LeaseDurationSeconds``) stops
acting as leader on its own (:attr:`LeaderElector.is_leader` turns False), before any other
replica may consider the lease expired. On a clean stop the leader releases the Lease (empty
holder, as client-go's ``ReleaseOnCancel``), so a successor takes over at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import secrets
import socket
import time
from collections.abc import Callable
from datetime import UTC, datetime

from app.config import LeaderElectionSettings
from app.kube.lease import LeaseClient, LeaseRecord
from app.models import Conflict, SandboxError

log = logging.getLogger(__name__)


def default_identity() -> str:
    """The pod's name (HOSTNAME in a pod) and a random suffix: unique per process."""
    host = os.environ.get("HOSTNAME") or socket.gethostname()
    return f"{host}_{secrets.token_hex(4)}"


def claim(
    current: LeaseRecord | None, identity: str, now: datetime, duration: float, *, expired: bool
) -> LeaseRecord | None:
    """The record to write to become or stay the holder; None while another holds it.

    ``expired`` says whether the current record has gone unchanged for its lease duration as
    observed by this replica.
    """
    if current is None:
        return LeaseRecord(identity, duration, acquire_time=now, renew_time=now, transitions=0)
    if current.held and current.holder != identity and not expired:
        return None
    if current.holder == identity:
        acquired, transitions = current.acquire_time or now, current.transitions
    else:
        acquired, transitions = now, current.transitions + 1
    return LeaseRecord(
        identity,
        duration,
        acquire_time=acquired,
        renew_time=now,
        transitions=transitions,
        resource_version=current.resource_version,
    )


class LeaderElector:
    def __init__(
        self,
        client: LeaseClient,
        settings: LeaderElectionSettings,
        *,
        identity: str | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.client = client
        self.settings = settings
        self.name = settings.lease_name
        self.identity = identity or default_identity()
        self.monotonic = monotonic
        self.clock = clock
        self.terms = 0  # how often this replica became leader
        self._leading = False
        self._renewed_at = 0.0
        self._observed: LeaseRecord | None = None
        self._observed_at = 0.0
        self._record: LeaseRecord | None = None
        self._leader_event = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def is_leader(self) -> bool:
        """Holding the Lease with a renewal younger than the renew deadline."""
        return self._leading and (
            self.monotonic() - self._renewed_at < self.settings.renew_deadline_seconds
        )

    @property
    def observed_holder(self) -> str | None:
        """Who held the Lease at the last read (None: nobody, or not read yet)."""
        return self._observed.holder if self._observed is not None else None

    async def wait_leader(self, *, timeout: float | None = None) -> bool:
        try:
            async with asyncio.timeout(timeout):
                while not self.is_leader:
                    await self._leader_event.wait()
                    self._leader_event.clear()
        except TimeoutError:
            return self.is_leader
        return True

    # -- one round ---------------------------------------------------------------------------

    def _observe(self, record: LeaseRecord | None) -> bool:
        """Note what was read; True if that record has gone unchanged for its lease duration."""
        if record is None:
            self._observed = None
            return False
        seen = self._observed
        if seen is None or (seen.holder, seen.renew_time, seen.resource_version) != (
            record.holder,
            record.renew_time,
            record.resource_version,
        ):
            self._observed, self._observed_at = record, self.monotonic()
        duration = record.lease_duration_seconds or self.settings.lease_duration_seconds
        return self.monotonic() - self._observed_at >= duration

    async def try_acquire_or_renew(self) -> bool:
        """One attempt; True if this replica holds the Lease afterwards."""
        current = await self.client.get(self.name)
        expired = self._observe(current)
        wanted = claim(
            current,
            self.identity,
            self.clock(),
            self.settings.lease_duration_seconds,
            expired=expired,
        )
        if wanted is None:
            return False
        try:
            if current is None:
                written = await self.client.create(self.name, wanted)
            else:
                written = await self.client.update(self.name, wanted)
        except Conflict:
            return False  # someone else wrote first (409): they lead
        self._record = written
        self._observe(written)
        return True

    # -- running -----------------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"leader-election-{self.name}")

    async def stop(self, *, release: bool = True) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        was_leading, self._leading = self._leading, False
        if release and was_leading and self._record is not None:
            await self._release(self._record)

    async def _release(self, record: LeaseRecord) -> None:
        now = self.clock()
        released = LeaseRecord(
            None,
            1,
            acquire_time=now,
            renew_time=now,
            transitions=record.transitions,
            resource_version=record.resource_version,
        )
        try:
            await self.client.update(self.name, released)
            log.info("released lease %s", self.name)
        except SandboxError:
            log.info("could not release lease %s; it will expire", self.name, exc_info=True)

    async def _run(self) -> None:
        retry = self.settings.retry_period_seconds
        while True:
            try:
                holds = await self.try_acquire_or_renew()
                failed = False
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("lease %s: read or write failed", self.name, exc_info=True)
                holds, failed = False, True
            if holds:
                self._renewed_at = self.monotonic()
                if not self._leading:
                    self._leading = True
                    self.terms += 1
                    log.info("%s is now the leader (lease %s)", self.identity, self.name)
                self._leader_event.set()
            elif self._leading and (not failed or not self.is_leader):
                # Another holder (or no renewal within the deadline): stop acting as leader.
                self._leading = False
                log.warning("%s lost the lease %s", self.identity, self.name)
            # Candidates spread their attempts; the leader renews on the period.
            await asyncio.sleep(retry if self._leading else retry * random.uniform(1.0, 1.2))
