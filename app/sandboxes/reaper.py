"""The reaper: deletes expired, finished and stuck sandboxes, on the elected replica only.

Each round (``Lifecycle.ReaperIntervalSeconds``) the leader looks at the informer's store and
deletes, oldest first:

- EXPIRED: ``kata-sandbox-api/expires-at`` has passed;
- COMPLETED: with ``Kubernetes.CleanupCompletedPods``, a sandbox in a terminal phase (Succeeded
  or Failed) finished more than ``Lifecycle.CompletedRetentionSeconds`` ago, so its outcome can
  be read for a while first;
- STUCK: Pending for more than ``Lifecycle.MaxPendingSeconds`` since its creation.

How every subscriber, on every replica, learns *why* (``SandboxChange.reason``): before deleting,
the reaper writes its reason into the annotation ``kata-sandbox-api/deletion-reason`` (a merge
patch), then deletes. The deletion's MODIFIED (deletionTimestamp set) and the final DELETED
object carry that annotation, and each replica's watch delivers them. A deleted pod without it
was deleted by someone else: USER.

Why each sandbox is deleted exactly once, even if two replicas both believed they led:

- the reason patch is conditioned on the resourceVersion the decision was taken on, so it fails
  (409) if the pod changed meanwhile (an extension, another reaper's mark): the pod is judged
  again next round on its new state;
- the delete is conditioned on the pod's uid and on the resourceVersion the mark produced. The
  delete itself changes the pod (deletionTimestamp), so of several reapers acting on one
  version exactly one delete succeeds; the others get 409. (Without the version a second
  DELETE of a terminating pod would succeed too.) A status update between mark and delete
  makes the delete fail harmlessly: the marked pod is finished next round;
- a pod already marked is finished by whichever leader sees it next (a leader may have died
  between mark and delete), and extensions of a marked pod are refused;
- a deletion already in progress (deletionTimestamp) is never repeated.

The leader check is repeated right before each delete, so a replica that lost its lease stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from app.config import KubernetesSettings, LifecycleSettings
from app.kube.informer import PodInformer
from app.kube.ownership import DELETION_REASON_ANNOTATION
from app.kube.pods import PodRepository
from app.models import Conflict, DeletionReason, NotFound, Sandbox, SandboxError, SandboxPhase
from app.sandboxes.boot import condition

log = logging.getLogger(__name__)

REAP_CONCURRENCY = 4


@dataclass(frozen=True, slots=True)
class ReapPolicy:
    cleanup_completed: bool
    completed_retention: timedelta
    max_pending: timedelta | None

    @classmethod
    def from_settings(cls, kube: KubernetesSettings, lifecycle: LifecycleSettings) -> ReapPolicy:
        pending = lifecycle.max_pending_seconds
        return cls(
            cleanup_completed=kube.cleanup_completed_pods,
            completed_retention=timedelta(seconds=lifecycle.completed_retention_seconds),
            max_pending=timedelta(seconds=pending) if pending is not None else None,
        )


@dataclass(frozen=True, slots=True)
class Reaped:
    name: str
    uid: str
    reason: DeletionReason


def finished_at(sandbox: Sandbox) -> datetime:
    """When a terminal sandbox finished: its containers' end, else when it went unready."""
    ends = [c.finished_at for c in sandbox.containers if c.finished_at is not None]
    if ends:
        return max(ends)
    ready = condition(sandbox, "Ready")
    return (ready.last_transition_time if ready else None) or sandbox.created_at


def reap_reason(sandbox: Sandbox, now: datetime, policy: ReapPolicy) -> DeletionReason | None:
    """Why ``sandbox`` should be deleted now, or None."""
    if sandbox.terminating:
        return None
    if sandbox.deletion_reason is not None:
        return sandbox.deletion_reason  # marked by a reaper that did not get to delete it
    if sandbox.expires_at is not None and sandbox.expires_at <= now:
        return DeletionReason.EXPIRED
    if (
        policy.cleanup_completed
        and sandbox.phase.is_terminal
        and finished_at(sandbox) + policy.completed_retention <= now
    ):
        return DeletionReason.COMPLETED
    if (
        policy.max_pending is not None
        and sandbox.phase is SandboxPhase.PENDING
        and sandbox.created_at + policy.max_pending <= now
    ):
        return DeletionReason.STUCK
    return None


class Reaper:
    def __init__(
        self,
        repository: PodRepository,
        informer: PodInformer,
        policy: ReapPolicy,
        *,
        interval_seconds: float,
        is_leader: Callable[[], bool] = lambda: True,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.repository = repository
        self.informer = informer
        self.policy = policy
        self.interval_seconds = interval_seconds
        self.is_leader = is_leader
        self.clock = clock
        self.reaped: list[Reaped] = []  # what this instance deleted, oldest first
        self._task: asyncio.Task[None] | None = None

    def due(self) -> list[tuple[Sandbox, DeletionReason]]:
        now = self.clock()
        found = []
        for sandbox in self.informer.ordered():
            reason = reap_reason(sandbox, now, self.policy)
            if reason is not None:
                found.append((sandbox, reason))
        return found

    async def reap_once(self) -> list[Reaped]:
        """One round; returns what this round deleted."""
        if not self.is_leader():
            return []
        limit = asyncio.Semaphore(REAP_CONCURRENCY)
        done: list[Reaped] = []

        async def reap(sandbox: Sandbox, reason: DeletionReason) -> None:
            async with limit:
                reaped = await self._reap(sandbox, reason)
            if reaped is not None:
                done.append(reaped)

        async with asyncio.TaskGroup() as group:
            for sandbox, reason in self.due():
                group.create_task(reap(sandbox, reason))
        return done

    async def _reap(self, sandbox: Sandbox, reason: DeletionReason) -> Reaped | None:
        name = sandbox.name
        try:
            marked = sandbox
            if sandbox.deletion_reason is not reason:
                marked = await self.repository.patch_annotations(
                    name,
                    {DELETION_REASON_ANNOTATION: reason.value},
                    resource_version=sandbox.resource_version,
                )
            if not self.is_leader():
                return None
            await self.repository.delete(
                name, uid=sandbox.uid, resource_version=marked.resource_version
            )
        except (NotFound, Conflict):
            return None  # gone, or changed since the decision: judged again next round
        except SandboxError:
            log.warning("could not reap sandbox %s (%s)", name, reason.value, exc_info=True)
            return None
        reaped = Reaped(name, sandbox.uid, reason)
        self.reaped.append(reaped)
        log.info("reaped sandbox %s: %s", name, reason.value)
        return reaped

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="sandbox-reaper")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            try:
                if self.informer.synced:
                    await self.reap_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("reaper round failed", exc_info=True)
            await asyncio.sleep(self.interval_seconds)
