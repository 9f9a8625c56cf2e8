"""The service's Prometheus metrics, in one registry per app.

Why a registry per app rather than prometheus-client's global one: a process may hold several
apps (the tests do), and the global registry refuses a second metric of the same name. Each app
builds a :class:`Metrics`; ``/metrics`` serves its registry.

Metrics updated as things happen (this module):

- ``kata_graphql_operations_total{type,operation}``: GraphQL operations handled, HTTP and
  websocket alike (a subscription counts when it ends);
- ``kata_graphql_operation_errors_total{type,operation,code}``: errors in their results, by
  ``extensions.code`` (one operation may count several);
- ``kata_graphql_operation_duration_seconds{type}``: queries and mutations, parse to result;
- ``kata_graphql_active_subscriptions{subscription}``: open subscriptions by root field;
- ``kata_sandbox_create_duration_seconds{wait_for_ready,outcome}``: ``createSandbox``
  mutations, ``outcome`` ``ok`` or the error code;
- ``kata_sandbox_boot_duration_seconds``: creation to Ready (``app.observability.informer``);
- ``kata_reaper_deletions_total{reason}``: incremented by the reaper, one per deletion it made:
  ``metrics.reaper_deletions.labels(reason=DeletionReason.EXPIRED.value).inc()``.

Metrics read at scrape time from the informer (``app.observability.informer``): sandboxes by
phase, informer events, relists, synced state and the age of the last event.

``operation`` is the client's ``operationName`` when it is a GraphQL name, else the operation's
root fields (``createSandbox``, ``sandbox,sandboxes``). Clients choose names freely, so at most
:data:`MAX_OPERATION_LABELS` distinct values are kept per process; later ones count as
``other``: a client cannot grow the registry without bound.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from app.models import DeletionReason

MAX_OPERATION_LABELS = 200
OTHER = "other"
ANONYMOUS = "anonymous"
_GRAPHQL_NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]{0,99}")

# Without waitForReady a create takes one apiserver round trip and the informer catching up;
# with it, the VM boot as well (12-25 s on the real nodes), up to MaxReadyTimeoutSeconds.
CREATE_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 20, 30, 45, 60, 90, 120, 300, 600)
# Kubernetes timestamps have whole seconds, so boot durations do too.
BOOT_BUCKETS = (1, 2, 3, 5, 10, 15, 20, 25, 30, 45, 60, 90, 120, 180, 300, 600)
OPERATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 600)

REAPER_REASONS = tuple(
    reason.value for reason in DeletionReason if reason is not DeletionReason.USER
)
OPERATION_TYPES = ("query", "mutation", "subscription")


class OperationLabels:
    """Turns operation names into label values, keeping at most ``limit`` distinct ones."""

    def __init__(self, limit: int = MAX_OPERATION_LABELS) -> None:
        self.limit = limit
        self._known: set[str] = set()

    def __call__(self, name: str | None, root_fields: Iterable[str]) -> str:
        if name and _GRAPHQL_NAME.fullmatch(name):
            label = name
        else:
            label = ",".join(sorted(set(root_fields)))[:100] or ANONYMOUS
        if label in self._known:
            return label
        if len(self._known) >= self.limit:
            return OTHER
        self._known.add(label)
        return label


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        self.operation_label = OperationLabels()
        self.operations = Counter(
            "kata_graphql_operations",
            "GraphQL operations handled (a subscription counts when it ends).",
            ["type", "operation"],
            registry=registry,
        )
        self.operation_errors = Counter(
            "kata_graphql_operation_errors",
            "Errors in GraphQL results, by extensions.code.",
            ["type", "operation", "code"],
            registry=registry,
        )
        self.operation_duration = Histogram(
            "kata_graphql_operation_duration_seconds",
            "Time to answer a query or mutation.",
            ["type"],
            buckets=OPERATION_BUCKETS,
            registry=registry,
        )
        self.active_subscriptions = Gauge(
            "kata_graphql_active_subscriptions",
            "Subscriptions currently open, by root field.",
            ["subscription"],
            registry=registry,
        )
        self.create_duration = Histogram(
            "kata_sandbox_create_duration_seconds",
            "Time to answer createSandbox, by waitForReady and outcome (ok or the error code).",
            ["wait_for_ready", "outcome"],
            buckets=CREATE_BUCKETS,
            registry=registry,
        )
        self.boot_duration = Histogram(
            "kata_sandbox_boot_duration_seconds",
            "Sandbox creation to Ready, observed once per sandbox when this process sees it Ready.",
            buckets=BOOT_BUCKETS,
            registry=registry,
        )
        self.reaper_deletions = Counter(
            "kata_reaper_deletions",
            "Sandboxes the reaper deleted, by reason (EXPIRED, COMPLETED, STUCK).",
            ["reason"],
            registry=registry,
        )
        # Series that exist from the start read 0 instead of being absent, so rate() and
        # alerts work before the first event.
        for kind in OPERATION_TYPES:
            self.operation_duration.labels(type=kind)
        for reason in REAPER_REASONS:
            self.reaper_deletions.labels(reason=reason)
