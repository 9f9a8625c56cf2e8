"""The lifecycle's background parts for one replica, started and stopped together.

- an :class:`EventInformer` (pod events, for boot phases, timelines and diagnoses);
- a :class:`LeaderElector` on the Lease ``Lifecycle.LeaderElection.LeaseName`` in the service's
  own namespace, and the :class:`Reaper`, which acts only while this replica leads;
- the :class:`CapacityService` (no background work; here for the wiring).

The server's lifespan builds one next to its PodInformer and SandboxService::

    runtime = LifecycleRuntime(transport, repository, informer, settings.kubernetes,
                               settings.lifecycle)
    runtime.start()
    ...
    await runtime.stop()   # releases the Lease, so another replica takes over at once
"""

from __future__ import annotations

from collections.abc import AsyncGenerator

from app.config import KubernetesSettings, LifecycleSettings
from app.kube.cluster_reads import ClusterReader
from app.kube.event_informer import EventInformer
from app.kube.informer import PodInformer
from app.kube.leader import LeaderElector
from app.kube.lease import LeaseClient
from app.kube.pods import PodRepository
from app.kube.transport import KubeTransport
from app.models import Sandbox, SandboxChange, SandboxEvent
from app.sandboxes.capacity import CapacityService
from app.sandboxes.expiry import expiring_notices
from app.sandboxes.reaper import Reaper, ReapPolicy


class LifecycleRuntime:
    def __init__(
        self,
        transport: KubeTransport,
        repository: PodRepository,
        informer: PodInformer,
        kube: KubernetesSettings,
        lifecycle: LifecycleSettings,
        *,
        identity: str | None = None,
    ) -> None:
        self.informer = informer
        self.lifecycle = lifecycle
        self.events = EventInformer(transport, kube.target_namespace)
        self.capacity = CapacityService(ClusterReader(transport), informer, kube)
        self.elector: LeaderElector | None = None
        self.reaper: Reaper | None = None
        if lifecycle.reaper_enabled:
            election = lifecycle.leader_election
            elector = LeaderElector(
                LeaseClient(transport, election.namespace), election, identity=identity
            )
            self.elector = elector
            self.reaper = Reaper(
                repository,
                informer,
                ReapPolicy.from_settings(kube, lifecycle),
                interval_seconds=lifecycle.reaper_interval_seconds,
                is_leader=lambda: elector.is_leader,
            )

    def events_for(self, sandbox: Sandbox) -> list[SandboxEvent]:
        """The sandbox's events from the local store (no apiserver request)."""
        return self.events.events_for(sandbox)

    def expiring_notices(self, *, include_current: bool = True) -> AsyncGenerator[SandboxChange]:
        """EXPIRING changes, ``Lifecycle.ExpiringNoticeSeconds`` before each expiry."""
        return expiring_notices(
            self.informer,
            lead_seconds=self.lifecycle.expiring_notice_seconds,
            include_current=include_current,
        )

    def start(self) -> None:
        self.events.start()
        if self.elector is not None:
            self.elector.start()
        if self.reaper is not None:
            self.reaper.start()

    async def stop(self) -> None:
        if self.reaper is not None:
            await self.reaper.stop()
        if self.elector is not None:
            await self.elector.stop(release=True)
        await self.events.stop()
