"""Mutations: writes go to the apiserver; each answers once the store reflects the write, so a
query sent right after sees it (the service waits, bounded, for the informer to catch up)."""

from __future__ import annotations

import strawberry

from app.graphql.decorators import mutation
from app.graphql.inputs import NOT_GIVEN, CreateSandboxInput, check_range, given
from app.graphql.types import DeletionResult, Info, Sandbox

MAX_GRACE_PERIOD_SECONDS = 24 * 3600
MAX_OLDER_THAN_SECONDS = 10 * 365 * 24 * 3600


def _check_grace_period(grace_period_seconds: int | None) -> None:
    if grace_period_seconds is not None:
        check_range(
            grace_period_seconds,
            "gracePeriodSeconds",
            minimum=0,
            maximum=MAX_GRACE_PERIOD_SECONDS,
        )


@strawberry.type
class Mutation:
    @mutation(
        description=(
            "Create a sandbox. With waitForReady it answers once the sandbox is Ready, or fails "
            "with TIMEOUT or SANDBOX_FAILED (extensions.reason says why, e.g. ImagePullBackOff)."
        )
    )
    async def create_sandbox(self, info: Info, input: CreateSandboxInput) -> Sandbox:
        spec = input.to_spec()
        service = await info.context.service()
        created = await service.create(spec, wait_for_ready=bool(input.wait_for_ready))
        return Sandbox.from_domain(created)

    @mutation(
        description=(
            "Make the sandbox expire `ttlSeconds` from now (at most the service's MaxTtlSeconds; "
            "it may also shorten the TTL). NOT_FOUND if there is none of that name, CONFLICT if "
            "it is already being deleted."
        )
    )
    async def extend_sandbox(self, info: Info, name: str, ttl_seconds: int) -> Sandbox:
        service = await info.context.service()
        extended = await service.extend(name, ttl_seconds, field="ttlSeconds")
        return Sandbox.from_domain(extended)

    @mutation(
        description=(
            "Delete a sandbox; NOT_FOUND if there is none of that name. It shows as terminating "
            "until its container has stopped; `force` removes it at once."
        )
    )
    async def delete_sandbox(
        self,
        info: Info,
        name: str,
        grace_period_seconds: int | None = NOT_GIVEN,
        force: bool | None = False,
    ) -> DeletionResult:
        grace_period_seconds = given(grace_period_seconds)
        _check_grace_period(grace_period_seconds)
        service = await info.context.service()
        deleted = await service.delete(
            name, grace_period_seconds=grace_period_seconds, force=bool(force)
        )
        return DeletionResult.of(deleted)

    @mutation(description="Delete every sandbox the (non-empty) label selector matches.")
    async def delete_sandboxes(
        self,
        info: Info,
        label_selector: str,
        grace_period_seconds: int | None = NOT_GIVEN,
        force: bool | None = False,
    ) -> DeletionResult:
        grace_period_seconds = given(grace_period_seconds)
        _check_grace_period(grace_period_seconds)
        service = await info.context.service()
        deleted = await service.delete_matching(
            label_selector,
            grace_period_seconds=grace_period_seconds,
            force=bool(force),
            field="labelSelector",
        )
        return DeletionResult.of(deleted)

    @mutation(
        description=(
            "Delete finished sandboxes (Succeeded or Failed) when `completed`, and those created "
            "more than `olderThanSeconds` ago."
        )
    )
    async def cleanup_sandboxes(
        self, info: Info, completed: bool | None = True, older_than_seconds: int | None = NOT_GIVEN
    ) -> DeletionResult:
        older_than_seconds = given(older_than_seconds)
        if older_than_seconds is not None:
            check_range(
                older_than_seconds,
                "olderThanSeconds",
                minimum=1,
                maximum=MAX_OLDER_THAN_SECONDS,
            )
        service = await info.context.service()
        deleted = await service.cleanup(
            completed=completed is not False, older_than_seconds=older_than_seconds
        )
        return DeletionResult.of(deleted)
