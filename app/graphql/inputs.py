"""GraphQL inputs and their conversion to domain values.

The spec itself is validated by the service (``app.sandboxes.validation``), which names the
offending field by its GraphQL path (``input.labels[0].key``); here only arguments that are not
part of a spec are checked (page sizes, log options, grace periods).
"""

from __future__ import annotations

from typing import TypeVar

import strawberry
from strawberry.types.unset import UnsetType

from app import models
from app.graphql.enums import RestartPolicy, SandboxPhase
from app.sandboxes.label_selector import LabelSelector, compile_label_selector
from app.sandboxes.service import SandboxFilter
from app.sandboxes.tenancy import belongs_to

T = TypeVar("T")

# Optional fields and arguments without a default in the contract default to UNSET (so the schema
# prints no "= null"); ``given`` turns that into None.
NOT_GIVEN = strawberry.UNSET


def given(value: T | None) -> T | None:
    return None if isinstance(value, UnsetType) else value


def check_range(value: int, field: str, *, minimum: int, maximum: int | None = None) -> None:
    """Raise BAD_USER_INPUT naming ``field`` unless ``minimum <= value <= maximum``."""
    if value < minimum:
        raise models.BadUserInput(f"must be at least {minimum}", field=field)
    if maximum is not None and value > maximum:
        raise models.BadUserInput(f"must be at most {maximum}", field=field)


@strawberry.input(name="SandboxFilter", description="All given conditions must hold.")
class SandboxFilterInput:
    label_selector: str | None = strawberry.field(
        default=NOT_GIVEN,
        description="Kubernetes label selector syntax, e.g. 'team=a,tier in (x,y)'.",
    )
    phases: list[SandboxPhase] | None = NOT_GIVEN
    ready: bool | None = NOT_GIVEN

    def to_domain(self, field_prefix: str = "filter") -> SandboxFilter:
        phases = given(self.phases)
        return SandboxFilter(
            label_selector=given(self.label_selector),
            phases=(
                frozenset(models.SandboxPhase[phase.name] for phase in phases)
                if phases is not None
                else None
            ),
            ready=given(self.ready),
            field_prefix=field_prefix,
        )


class SandboxMatcher:
    """A filter as a predicate on one sandbox, for the changes a subscription sees."""

    def __init__(self, sandbox_filter: SandboxFilter | None) -> None:
        self._filter = sandbox_filter
        self._selector: LabelSelector | None = None
        if sandbox_filter is not None and sandbox_filter.label_selector:
            self._selector = compile_label_selector(
                sandbox_filter.label_selector, field=f"{sandbox_filter.field_prefix}.labelSelector"
            )

    def __call__(self, sandbox: models.Sandbox) -> bool:
        how = self._filter
        if how is None:
            return True
        return (
            (self._selector is None or self._selector.matches(sandbox.labels_as_dict()))
            and (how.phases is None or sandbox.phase in how.phases)
            and (how.ready is None or sandbox.ready == how.ready)
            and belongs_to(sandbox, how.tenant)
        )


@strawberry.input(name="EnvVarInput")
class EnvVarInput:
    name: str
    value: str


@strawberry.input(name="LabelInput")
class LabelInput:
    key: str
    value: str


@strawberry.input(name="ResourceAmountsInput", description="Memory in MiB, CPU in millicores.")
class ResourceAmountsInput:
    memory_mi: int | None = NOT_GIVEN
    cpu_millicores: int | None = NOT_GIVEN

    def to_domain(self) -> models.ResourceAmounts:
        return models.ResourceAmounts(
            memory_mi=given(self.memory_mi), cpu_millicores=given(self.cpu_millicores)
        )


@strawberry.input(name="ResourcesInput", description="Unset amounts take the service's defaults.")
class ResourcesInput:
    requests: ResourceAmountsInput | None = NOT_GIVEN
    limits: ResourceAmountsInput | None = NOT_GIVEN

    def to_domain(self) -> models.ResourceRequirements:
        requests, limits = given(self.requests), given(self.limits)
        return models.ResourceRequirements(
            requests=requests.to_domain() if requests is not None else models.NO_AMOUNTS,
            limits=limits.to_domain() if limits is not None else models.NO_AMOUNTS,
        )


@strawberry.input(name="ScratchVolumeInput", description="A writable emptyDir.")
class ScratchVolumeInput:
    mount_path: str
    size_limit_mi: int | None = NOT_GIVEN


@strawberry.input(name="ConfigMapVolumeInput", description="An existing ConfigMap, read-only.")
class ConfigMapVolumeInput:
    name: str
    mount_path: str


@strawberry.input(name="CreateSandboxInput")
class CreateSandboxInput:
    image: str
    command: list[str] | None = NOT_GIVEN
    args: list[str] | None = NOT_GIVEN
    env: list[EnvVarInput] | None = NOT_GIVEN
    labels: list[LabelInput] | None = NOT_GIVEN
    resources: ResourcesInput | None = NOT_GIVEN
    restart_policy: RestartPolicy | None = RestartPolicy.NEVER
    scratch: ScratchVolumeInput | None = NOT_GIVEN
    config_maps: list[ConfigMapVolumeInput] | None = NOT_GIVEN
    wait_for_ready: bool | None = strawberry.field(
        default=False, description="Answer only once the sandbox is Ready (or failed to be)."
    )
    ready_timeout_seconds: int | None = strawberry.field(
        default=NOT_GIVEN,
        description="How long waitForReady waits; the service's default if unset.",
    )
    ttl_seconds: int | None = strawberry.field(
        default=NOT_GIVEN,
        description=(
            "Delete the sandbox this long after its creation (see Sandbox.expiresAt and "
            "extendSandbox); the service's DefaultTtlSeconds if unset, at most MaxTtlSeconds."
        ),
    )
    idempotency_key: str | None = strawberry.field(
        default=NOT_GIVEN,
        description=(
            "Retry-safe create: the same key with the same input returns the sandbox created "
            "first (also while it boots, and from any replica); with another input, CONFLICT."
        ),
    )

    def to_spec(self) -> models.SandboxSpec:
        command, args = given(self.command), given(self.args)
        resources, scratch = given(self.resources), given(self.scratch)
        return models.SandboxSpec(
            image=self.image,
            command=tuple(command) if command is not None else None,
            args=tuple(args) if args is not None else None,
            env=tuple(models.EnvVar(v.name, v.value) for v in given(self.env) or ()),
            labels=tuple(models.Label(x.key, x.value) for x in given(self.labels) or ()),
            resources=resources.to_domain() if resources else models.NO_REQUIREMENTS,
            restart_policy=models.RestartPolicy[(self.restart_policy or RestartPolicy.NEVER).name],
            scratch=(
                models.ScratchVolume(scratch.mount_path, size_limit_mi=given(scratch.size_limit_mi))
                if scratch is not None
                else None
            ),
            config_maps=tuple(
                models.ConfigMapVolume(c.name, c.mount_path) for c in given(self.config_maps) or ()
            ),
            ready_timeout_seconds=given(self.ready_timeout_seconds),
            ttl_seconds=given(self.ttl_seconds),
            idempotency_key=given(self.idempotency_key),
        )
