"""Subscriptions, each fed by one subscription to the process's informer (never a watch of its
own) and released when the client completes or disconnects.

Each is scoped to the caller's tenant (``app.auth.scoped``: another tenant's sandboxes are not
found and their changes never match) and holds one of the tenant's subscription slots while it
runs (``Server.MaxSubscriptionsPerTenant``).

``sandboxChanges`` keeps the filter's result set as Kubernetes watches with selectors do: a
sandbox that starts to match is sent as ADDED, one that stops matching (e.g. it left the phases
asked for) as DELETED, so a client can mirror the set from the changes alone.

Both sandbox subscriptions also send EXPIRING a lead time before a sandbox's TTL runs out, a
MODIFIED when its bootPhase or diagnosis moved with its events alone, and on DELETED the
``reason`` (``app.graphql.changes``).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator

import strawberry

from app import models
from app.graphql.changes import SentViews, lifecycle_changes
from app.graphql.decorators import subscription
from app.graphql.inputs import NOT_GIVEN, SandboxFilterInput, SandboxMatcher, given
from app.graphql.types import Info, SandboxChange, log_options


@strawberry.type
class Subscription:
    @subscription(
        description=(
            "Changes to the sandboxes matching `filter`; with includeExisting, first an ADDED "
            "for every sandbox that matches now. A sandbox that stops matching is sent as DELETED. "
            "EXPIRING comes Lifecycle.ExpiringNoticeSeconds before a sandbox's TTL runs out; "
            "DELETED carries the reason (null if it only stopped matching)."
        )
    )
    async def sandbox_changes(
        self,
        info: Info,
        filter: SandboxFilterInput | None = NOT_GIVEN,
        include_existing: bool | None = False,
    ) -> AsyncGenerator[SandboxChange, None]:
        filter_input = given(filter)
        service = await info.context.service()
        # The caller's tenant is part of the filter: another tenant's changes never match.
        sandbox_filter = service.scoped_filter(
            filter_input.to_domain() if filter_input is not None else None
        )
        matches = SandboxMatcher(sandbox_filter)
        with service.subscription():
            # Subscribe and take the snapshot without an await between: no change falls in a gap.
            subscription = info.context.informer.subscribe()
            try:
                existing = service.find(sandbox_filter)
                sent = SentViews(info.context)
                for sandbox in existing:
                    sent.record(sandbox)
                if include_existing:
                    for sandbox in existing:
                        yield SandboxChange.of(models.ChangeType.ADDED, sandbox)
                changes = lifecycle_changes(
                    info.context, subscription, sent, include_current=bool(include_existing)
                )
                async with contextlib.aclosing(changes):
                    async for change in changes:
                        sandbox = change.sandbox
                        known = sandbox.name in sent
                        if change.type is models.ChangeType.EXPIRING:
                            if known and matches(sandbox):
                                yield SandboxChange.of(change.type, sandbox)
                        elif change.type is not models.ChangeType.DELETED and matches(sandbox):
                            if not sent.is_news(sandbox):
                                continue  # already sent in this state (snapshot/queue overlap)
                            sent.record(sandbox)
                            kind = models.ChangeType.MODIFIED if known else models.ChangeType.ADDED
                            yield SandboxChange.of(kind, sandbox)
                        elif known:
                            sent.forget(sandbox.name)
                            yield SandboxChange.of(
                                models.ChangeType.DELETED,
                                sandbox,
                                deleted=change.type is models.ChangeType.DELETED,
                            )
            finally:
                subscription.close()

    @subscription(
        description=(
            "The sandbox's current state (as ADDED), then every change to it; completes after "
            "DELETED (with its reason). EXPIRING comes Lifecycle.ExpiringNoticeSeconds before its "
            "TTL runs out. NOT_FOUND if there is no sandbox of that name."
        )
    )
    async def sandbox_updates(self, info: Info, name: str) -> AsyncGenerator[SandboxChange, None]:
        service = await info.context.service()
        with service.subscription():
            subscription = info.context.informer.subscribe()
            try:
                current = service.require(name)
                sent = SentViews(info.context)
                sent.record(current)
                yield SandboxChange.of(models.ChangeType.ADDED, current)
                changes = lifecycle_changes(info.context, subscription, sent, include_current=True)
                async with contextlib.aclosing(changes):
                    async for change in changes:
                        # The name is the pod's; the visibility check is belt and braces.
                        if change.sandbox.name != name or not service.visible(change.sandbox):
                            continue
                        if change.type in (models.ChangeType.DELETED, models.ChangeType.EXPIRING):
                            yield SandboxChange.of(change.type, change.sandbox)
                            if change.type is models.ChangeType.DELETED:
                                return
                            continue
                        if not sent.is_news(change.sandbox):
                            continue
                        sent.record(change.sandbox)
                        yield SandboxChange.of(models.ChangeType.MODIFIED, change.sandbox)
            finally:
                subscription.close()

    @subscription(
        description=(
            "The container's log, line by line: waits for the container to start, completes "
            "when it ends or the sandbox is deleted."
        )
    )
    async def sandbox_logs(
        self,
        info: Info,
        name: str,
        container: str | None = NOT_GIVEN,
        tail_lines: int | None = NOT_GIVEN,
        since_seconds: int | None = NOT_GIVEN,
    ) -> AsyncGenerator[str, None]:
        options = log_options(container, tail_lines, since_seconds)
        service = await info.context.service()
        with service.subscription():
            async with contextlib.aclosing(service.follow_logs(name, options)) as lines:
                async for line in lines:
                    yield line
