"""The pod a ``SandboxSpec`` becomes, as the JSON dict the apiserver takes.

What every sandbox pod gets, and why:

- ``runtimeClassName`` from the settings: that is what makes it a Kata VM. RuntimeClass
  admission then adds ``spec.overhead`` (the VM's own memory and CPU) and the node selector.
- Requests and limits always set, so a sandbox never runs unbounded and the scheduler counts it.
  Defaults come from the settings; a limit given alone lowers the default request to fit under it
  (Kubernetes refuses request > limit), a request given alone raises the default limit to it.
- Our labels (``app``, ``runtime``, ``managed-by``) for the informer's selector, the owner's
  tenant (``kata-sandbox-api/tenant``, from the caller's token), user labels beside them; the
  creation time as an annotation (see ``app.kube.ownership``), and the TTL's end when there is
  one. With an idempotency key: its hash as a label, the key and the spec's
  hash as annotations (``app.sandboxes.idempotency``).
- No ServiceAccount token and no service-link environment variables: a sandbox runs untrusted
  code, which should not get credentials for the apiserver nor a map of the cluster's Services.
- A hardened security context as far as arbitrary images allow: seccomp RuntimeDefault, no
  privilege escalation, all capabilities dropped, not privileged. This passes Pod Security
  "baseline". "restricted" would also need ``runAsNonRoot``, which many images cannot meet.
- ``terminationMessagePolicy: FallbackToLogsOnError``: when the container fails without writing
  a termination message, the tail of its log becomes the status message users see.
- One container, named ``sandbox``; an emptyDir scratch volume with a size limit (the kubelet
  evicts the pod past it) and read-only ConfigMap volumes.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from app.config import KubernetesSettings
from app.kube.ownership import (
    CREATED_AT_ANNOTATION,
    EXPIRES_AT_ANNOTATION,
    IDEMPOTENCY_KEY_ANNOTATION,
    IDEMPOTENCY_KEY_HASH_LABEL,
    OWNED_LABELS,
    SANDBOX_CONTAINER_NAME,
    SPEC_HASH_ANNOTATION,
    TENANT_LABEL,
)
from app.kube.quantity import format_mebibytes, format_millicores
from app.models.kubernetes_names import is_dns1123_label
from app.models.resources import ResourceAmounts, ResourceRequirements, Resources
from app.models.spec import SandboxSpec
from app.sandboxes.idempotency import key_hash, spec_hash
from app.sandboxes.validation import validate_spec

POD_NAME_SUFFIX_BYTES = 4  # 8 hex digits
SCRATCH_VOLUME_NAME = "scratch"
CONFIG_MAP_VOLUME_PREFIX = "config-"


def generate_pod_name(prefix: str, *, token_hex: Callable[[int], str] = secrets.token_hex) -> str:
    """``{prefix}-{8 hex digits}``; ``token_hex`` is injectable so tests can force a collision."""
    name = f"{prefix}-{token_hex(POD_NAME_SUFFIX_BYTES)}"
    if not is_dns1123_label(name):
        raise ValueError(f"generated pod name {name!r} is not a DNS-1123 label")
    return name


def _resolve_amount(
    request: int | None, limit: int | None, default_request: int, default_limit: int
) -> tuple[int, int]:
    if request is None and limit is None:
        return default_request, default_limit
    if request is None:
        assert limit is not None
        return min(default_request, limit), limit
    if limit is None:
        return request, max(default_limit, request)
    return request, limit


def resolve_resources(requested: ResourceRequirements, settings: KubernetesSettings) -> Resources:
    """The requests and limits a pod gets for what the user asked (validated beforehand)."""
    memory_request, memory_limit = _resolve_amount(
        requested.requests.memory_mi,
        requested.limits.memory_mi,
        settings.default_resource_requests.memory_mi,
        settings.default_resource_limits.memory_mi,
    )
    cpu_request, cpu_limit = _resolve_amount(
        requested.requests.cpu_millicores,
        requested.limits.cpu_millicores,
        settings.default_resource_requests.cpu_millicores,
        settings.default_resource_limits.cpu_millicores,
    )
    return Resources(
        ResourceAmounts(memory_mi=memory_request, cpu_millicores=cpu_request),
        ResourceAmounts(memory_mi=memory_limit, cpu_millicores=cpu_limit),
    )


def _quantities(amounts: ResourceAmounts) -> dict[str, str]:
    # resolve_resources always fills both amounts
    assert amounts.memory_mi is not None
    assert amounts.cpu_millicores is not None
    return {
        "memory": format_mebibytes(amounts.memory_mi),
        "cpu": format_millicores(amounts.cpu_millicores),
    }


def format_created_at(created_at: datetime) -> str:
    """ISO-8601 in UTC with a 'Z', e.g. ``2024-05-01T10:00:00.250000Z``."""
    if created_at.tzinfo is None:
        raise ValueError("created_at must be timezone-aware")
    return created_at.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def expiry_for(
    ttl_seconds: int | None, settings: KubernetesSettings, created_at: datetime
) -> datetime | None:
    """When a sandbox created at ``created_at`` with ``ttl_seconds`` (or the default) expires."""
    ttl = ttl_seconds if ttl_seconds is not None else settings.default_ttl_seconds
    return created_at + timedelta(seconds=ttl) if ttl is not None else None


def _volumes(
    spec: SandboxSpec, settings: KubernetesSettings
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    volumes: list[dict[str, Any]] = []
    mounts: list[dict[str, Any]] = []
    if spec.scratch is not None:
        size = spec.scratch.size_limit_mi or settings.default_scratch_size_mi
        volumes.append(
            {"name": SCRATCH_VOLUME_NAME, "emptyDir": {"sizeLimit": format_mebibytes(size)}}
        )
        mounts.append({"name": SCRATCH_VOLUME_NAME, "mountPath": spec.scratch.mount_path})
    for index, config_map in enumerate(spec.config_maps):
        # Named by position: ConfigMap names may hold '.', which volume names may not.
        volume_name = f"{CONFIG_MAP_VOLUME_PREFIX}{index}"
        volumes.append({"name": volume_name, "configMap": {"name": config_map.name}})
        mounts.append({"name": volume_name, "mountPath": config_map.mount_path, "readOnly": True})
    return volumes, mounts


def _container(
    spec: SandboxSpec, settings: KubernetesSettings, mounts: list[dict[str, Any]]
) -> dict[str, Any]:
    resources = resolve_resources(spec.resources, settings)
    container: dict[str, Any] = {"name": SANDBOX_CONTAINER_NAME, "image": spec.image}
    if spec.command:
        container["command"] = list(spec.command)
    if spec.args:
        container["args"] = list(spec.args)
    if spec.env:
        container["env"] = [{"name": v.name, "value": v.value} for v in spec.env]
    container["resources"] = {
        "requests": _quantities(resources.requests),
        "limits": _quantities(resources.limits),
    }
    if mounts:
        container["volumeMounts"] = mounts
    container["securityContext"] = {
        "allowPrivilegeEscalation": False,
        "privileged": False,
        "capabilities": {"drop": ["ALL"]},
    }
    container["terminationMessagePolicy"] = "FallbackToLogsOnError"
    return container


def build_pod_manifest(
    spec: SandboxSpec, settings: KubernetesSettings, *, name: str, created_at: datetime
) -> dict[str, Any]:
    """The pod for ``spec``, named ``name``; the spec is validated first (``BadUserInput``)."""
    validate_spec(spec, settings)
    if not is_dns1123_label(name):
        raise ValueError(f"pod name {name!r} is not a DNS-1123 label")
    volumes, mounts = _volumes(spec, settings)
    labels = {label.key: label.value for label in spec.labels}
    labels.update(OWNED_LABELS)
    if spec.tenant is not None:
        if not is_dns1123_label(spec.tenant):
            raise ValueError(f"tenant {spec.tenant!r} is not a DNS-1123 label")
        labels[TENANT_LABEL] = spec.tenant
    annotations = {CREATED_AT_ANNOTATION: format_created_at(created_at)}
    expires_at = expiry_for(spec.ttl_seconds, settings, created_at)
    if expires_at is not None:
        annotations[EXPIRES_AT_ANNOTATION] = format_created_at(expires_at)
    if spec.idempotency_key is not None:
        labels[IDEMPOTENCY_KEY_HASH_LABEL] = key_hash(spec.idempotency_key)
        annotations[IDEMPOTENCY_KEY_ANNOTATION] = spec.idempotency_key
        annotations[SPEC_HASH_ANNOTATION] = spec_hash(spec)
    pod_spec: dict[str, Any] = {
        "runtimeClassName": settings.runtime_class_name,
        "restartPolicy": spec.restart_policy.value,
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [_container(spec, settings, mounts)],
    }
    if volumes:
        pod_spec["volumes"] = volumes
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": settings.target_namespace,
            "labels": labels,
            "annotations": annotations,
        },
        "spec": pod_spec,
    }
