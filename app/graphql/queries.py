"""Queries: read the informer's store, never the apiserver (nested events and logs aside)."""

from __future__ import annotations

import strawberry

from app.graphql.decorators import field
from app.graphql.inputs import NOT_GIVEN, SandboxFilterInput, given
from app.graphql.pagination import PageRequest, SandboxConnection, connection
from app.graphql.types import Info, Sandbox


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
