"""Subscriptions, each fed by one subscription to the process's informer (never a watch of its
own) and released when the client completes or disconnects.

``sandboxChanges`` keeps the filter's result set as Kubernetes watches with selectors do: a
sandbox that starts to match is sent as ADDED, one that stops matching (e.g. it left the phases
asked for) as DELETED, so a client can mirror the set from the changes alone.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator

import strawberry

from app import models
from app.graphql.decorators import subscription
from app.graphql.inputs import NOT_GIVEN, SandboxFilterInput, SandboxMatcher, given
from app.graphql.types import Info, SandboxChange, log_options


@strawberry.type
class Subscription:
    @subscription(
        description=(
            "Changes to the sandboxes matching `filter`; with includeExisting, first an ADDED "
            "for every sandbox that matches now. A sandbox that stops matching is sent as DELETED."
        )
    )
    async def sandbox_changes(
        self,
        info: Info,
        filter: SandboxFilterInput | None = NOT_GIVEN,
        include_existing: bool | None = False,
    ) -> AsyncGenerator[SandboxChange, None]:
        filter_input = given(filter)
        sandbox_filter = filter_input.to_domain() if filter_input is not None else None
        matches = SandboxMatcher(sandbox_filter)
        service = await info.context.service()
        # Subscribe and take the snapshot without an await between: no change falls in a gap.
        subscription = info.context.informer.subscribe()
        try:
            existing = service.find(sandbox_filter)
            sent = {sandbox.name: sandbox.resource_version for sandbox in existing}
            if include_existing:
                for sandbox in existing:
                    yield SandboxChange.of(models.ChangeType.ADDED, sandbox)
            async for change in subscription:
                sandbox = change.sandbox
                known = sandbox.name in sent
                if change.type is not models.ChangeType.DELETED and matches(sandbox):
                    if sent.get(sandbox.name) == sandbox.resource_version:
                        continue  # already sent in this state (snapshot and queue overlap)
                    sent[sandbox.name] = sandbox.resource_version
                    kind = models.ChangeType.MODIFIED if known else models.ChangeType.ADDED
                    yield SandboxChange.of(kind, sandbox)
                elif known:
                    del sent[sandbox.name]
                    yield SandboxChange.of(models.ChangeType.DELETED, sandbox)
        finally:
            subscription.close()

    @subscription(
        description=(
            "The sandbox's current state (as ADDED), then every change to it; completes after "
            "DELETED. NOT_FOUND if there is no sandbox of that name."
        )
    )
    async def sandbox_updates(self, info: Info, name: str) -> AsyncGenerator[SandboxChange, None]:
        service = await info.context.service()
        subscription = info.context.informer.subscribe()
        try:
            current = service.require(name)
            yield SandboxChange.of(models.ChangeType.ADDED, current)
            last_version = current.resource_version
            async for change in subscription:
                if change.sandbox.name != name:
                    continue
                if change.type is models.ChangeType.DELETED:
                    yield SandboxChange.of(models.ChangeType.DELETED, change.sandbox)
                    return
                if change.sandbox.resource_version == last_version:
                    continue
                last_version = change.sandbox.resource_version
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
        service.require(name)
        async with contextlib.aclosing(service.follow_logs(name, options)) as lines:
            async for line in lines:
                yield line
