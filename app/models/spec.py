"""What a user asks for when creating a sandbox (GraphQL ``CreateSandboxInput``).

Sequences keep the order the user gave, because validation errors name an item by its index
(``input.labels[2].key``). ``command`` and ``args`` are ``None`` when not given, which keeps the
image's ENTRYPOINT / CMD, as in Kubernetes; an empty tuple means the same.
"""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass

from app.models.enums import RestartPolicy
from app.models.resources import NO_REQUIREMENTS, ResourceRequirements
from app.models.sandbox import Label


@dataclass(frozen=True, slots=True)
class EnvVar:
    name: str
    value: str


@dataclass(frozen=True, slots=True)
class ScratchVolume:
    """A writable emptyDir; its size defaults to the service's setting when not given."""

    mount_path: str
    _: KW_ONLY
    size_limit_mi: int | None = None


@dataclass(frozen=True, slots=True)
class ConfigMapVolume:
    """An existing ConfigMap in the sandbox namespace, mounted read-only."""

    name: str
    mount_path: str


@dataclass(frozen=True, slots=True)
class SandboxSpec:
    image: str
    _: KW_ONLY
    command: tuple[str, ...] | None = None
    args: tuple[str, ...] | None = None
    env: tuple[EnvVar, ...] = ()
    labels: tuple[Label, ...] = ()
    resources: ResourceRequirements = NO_REQUIREMENTS
    restart_policy: RestartPolicy = RestartPolicy.NEVER
    scratch: ScratchVolume | None = None
    config_maps: tuple[ConfigMapVolume, ...] = ()
    # None: the service's default ready timeout.
    ready_timeout_seconds: int | None = None
    # None: the service's default TTL (Kubernetes.DefaultTtlSeconds), which may be none at all.
    ttl_seconds: int | None = None
    # The same key with the same spec returns the sandbox created first (see
    # app.sandboxes.idempotency); the same key with another spec is a Conflict.
    idempotency_key: str | None = None
    # The owner, from the caller's API token (never from the input): the pod's tenant label.
    tenant: str | None = None
