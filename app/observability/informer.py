"""Metrics that come from the pod informer: read at scrape time, or observed once per sandbox.

Why at scrape time: the informer's store already *is* the count of sandboxes by phase, and its
counters (events, relists) are plain attributes. Reading them when Prometheus asks costs one pass
over the store every scrape, instead of bookkeeping on every watch event that could drift from
the store (a relist replaces the store wholesale).

- ``kata_sandboxes{phase}``: sandboxes in the store by pod phase (every phase, zeros included);
- ``kata_informer_events_total{type}``: watch events received (ADDED, MODIFIED, DELETED,
  BOOKMARK, ...); the apiserver sends a BOOKMARK about once a minute on a quiet watch;
- ``kata_informer_relists_total``: full lists (the first one, then one per 410 Gone);
- ``kata_informer_last_event_age_seconds``: since the last watch event, bookmark or list: the
  informer's lag bound. A healthy idle watch stays around a minute at most; minutes more mean the
  watch is stuck or failing (its warnings are in the log);
- ``kata_informer_synced``: 1 once the first list is in the store;
- ``kata_informer_subscribers``: consumers of the change stream (one per open change
  subscription).

Boot time (``kata_sandbox_boot_duration_seconds``) is observed by :class:`BootTimes`, an informer
observer: when a sandbox is first seen Ready, creation to the Ready condition's transition time
(whole seconds, as Kubernetes stores them). Each sandbox counts once: restarts and relists do not
count it again, and sandboxes that were already Ready in the first list (booted before this
process watched) are not counted at all. Every replica observes every sandbox; the histograms of
two replicas have the same shape, so quantiles over their sum are right.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

from prometheus_client import Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from app.kube.informer import PodInformer
from app.models import ChangeType, Sandbox, SandboxChange, SandboxPhase

log = logging.getLogger(__name__)

READY = "Ready"


class InformerCollector(Collector):
    """Reads the bound informer at every scrape; yields nothing while none is bound."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.informer: PodInformer | None = None
        self.clock = clock

    def describe(self) -> Iterator[Metric]:
        return self._families()

    def collect(self) -> Iterator[Metric]:
        informer = self.informer
        if informer is None:
            return iter(())
        return self._families(informer)

    def _families(self, informer: PodInformer | None = None) -> Iterator[Metric]:
        sandboxes = GaugeMetricFamily(
            "kata_sandboxes", "Sandboxes in the informer's store, by pod phase.", labels=["phase"]
        )
        events = CounterMetricFamily(
            "kata_informer_events", "Pod watch events received, by type.", labels=["type"]
        )
        relists = CounterMetricFamily("kata_informer_relists", "Full lists of the pods.")
        age = GaugeMetricFamily(
            "kata_informer_last_event_age_seconds",
            "Seconds since the last pod watch event, bookmark or list.",
        )
        synced = GaugeMetricFamily("kata_informer_synced", "1 once the first list is loaded.")
        subscribers = GaugeMetricFamily(
            "kata_informer_subscribers", "Consumers of the informer's change stream."
        )
        if informer is not None:
            by_phase = dict.fromkeys(SandboxPhase, 0)
            for sandbox in list(informer.store.values()):
                by_phase[sandbox.phase] += 1
            for phase, count in by_phase.items():
                sandboxes.add_metric([phase.value], count)
            for kind, count in sorted(informer.events.items()):
                events.add_metric([kind], count)
            relists.add_metric([], informer.relists)
            if informer.last_event_at is not None:
                age.add_metric([], max(0.0, self.clock() - informer.last_event_at))
            synced.add_metric([], 1 if informer.synced else 0)
            subscribers.add_metric([], informer.subscriber_count)
        yield from (sandboxes, events, relists, age, synced, subscribers)


def ready_since(sandbox: Sandbox) -> datetime | None:
    for condition in sandbox.conditions:
        if condition.type == READY and condition.status == "True":
            return condition.last_transition_time
    return None


class BootTimes:
    """An informer observer: observes each sandbox's creation → Ready once (see above)."""

    def __init__(
        self,
        histogram: Histogram,
        *,
        synced: Callable[[], bool],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.histogram = histogram
        self.synced = synced  # the informer's: False while its first list is being published
        self.clock = clock
        # uids of sandboxes seen Ready (observed or not); forgotten when they are deleted.
        self._seen_ready: set[str] = set()

    def __call__(self, change: SandboxChange) -> None:
        try:
            self._observe(change)
        except Exception:  # an observer must never break the informer
            log.exception("boot time observation failed for %s", change.sandbox.name)

    def _observe(self, change: SandboxChange) -> None:
        sandbox = change.sandbox
        key = sandbox.uid or sandbox.name
        if change.type is ChangeType.DELETED:
            self._seen_ready.discard(key)
            return
        if not sandbox.ready or key in self._seen_ready:
            return
        self._seen_ready.add(key)
        if not self.synced():
            return  # in the first list: it booted before this process was watching
        ready_at = ready_since(sandbox) or self.clock()
        self.histogram.observe(max(0.0, (ready_at - sandbox.created_at).total_seconds()))

    @property
    def tracked(self) -> int:
        return len(self._seen_ready)
