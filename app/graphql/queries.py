"""Queries: read the informer's store, never the apiserver (nested events and logs aside, and
`capacity`, which reads the RuntimeClass, the namespace's ResourceQuotas and, if allowed, nodes)."""

from __future__ import annotations

import strawberry

from app.graphql.capacity import Capacity
from app.graphql.decorators import field
from app.graphql.inputs import NOT_GIVEN, SandboxFilterInput, given
from app.graphql.pagination import PageRequest, SandboxConnection, connection
from app.graphql.types import Info, Sandbox
from app.models import Unavailable


@strawberry.type
class Query:
    @field(description="The sandbox of that name, or null if there is none.")
    async def sandbox(self, info: Info, name: str) -> Sandbox | None:
        service = await info.context.service()
        found = service.get(name)
        return Sandbox.from_domain(found) if found is not None else None

    @field(
        description=(
            "Sandboxes in creation order (then by name), a page at a time: pass the previous "
            "page's pageInfo.endCursor as `after`. `first` is at most the server's MaxPageSize "
            "(200 by default); null means its DefaultPageSize."
        )
    )
    async def sandboxes(
        self,
        info: Info,
        filter: SandboxFilterInput | None = NOT_GIVEN,
        first: int | None = 50,
        after: str | None = NOT_GIVEN,
    ) -> SandboxConnection:
        server = info.context.server
        page = PageRequest.parse(
            first,
            given(after),
            default_size=server.default_page_size,
            max_size=server.max_page_size,
        )
        service = await info.context.service()
        sandbox_filter = given(filter)
        found = service.page(
            sandbox_filter.to_domain() if sandbox_filter else None,
            first=page.first,
            after=page.after,
        )
        return connection(found)

    @field(
        description=(
            "How much room is left: one default sandbox's footprint (with the Kata overhead and "
            "where it came from), the namespace's ResourceQuota used/hard, how many more default "
            "sandboxes fit, and per node when the service may read nodes."
        )
    )
    async def capacity(self, info: Info) -> Capacity:
        # Any authenticated caller, once the store is loaded; the figures are cluster-wide.
        await info.context.service()
        runtime = info.context.lifecycle
        if runtime is None:
            raise Unavailable("the service is starting or shutting down; retry shortly")
        return Capacity.from_domain(await runtime.capacity.capacity())
