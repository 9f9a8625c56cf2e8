"""The settings sections and their checks, key by key and across keys.

Aliases are the PascalCase keys of ``appsettings.json``; Python code uses the snake_case names.
A rule spanning keys raises ``InconsistentSetting`` with the key to blame, so the startup error
names it rather than the whole section.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_pascal

from app.config.errors import InconsistentSetting
from app.models.kubernetes_names import (
    DNS1123_LABEL_MAX_LENGTH,
    is_dns1123_label,
    is_dns1123_subdomain,
)

# A pod name is the prefix, '-' and 8 hex digits, and must stay a DNS-1123 label.
POD_NAME_SUFFIX_LENGTH = 1 + 8
MAX_POD_NAME_PREFIX_LENGTH = DNS1123_LABEL_MAX_LENGTH - POD_NAME_SUFFIX_LENGTH
LOG_LEVELS = ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG")
LOG_FORMATS = ("json", "text")
_HOST_COMPONENT = r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?"
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REGISTRY_PREFIX = re.compile(
    rf"{_HOST_COMPONENT}(?:\.{_HOST_COMPONENT})*(?::[0-9]{{1,5}})?(?:/{_PATH_COMPONENT})*", re.ASCII
)


class _Section(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_pascal,
        validate_by_name=True,
        validate_by_alias=True,
        extra="forbid",
        frozen=True,
    )


class ResourceAmountSettings(_Section):
    memory_mi: int = Field(gt=0)
    cpu_millicores: int = Field(gt=0)


def _fill_partial_amounts(model: type[BaseModel], data: Any) -> Any:
    """Let a file or variable set one amount and keep the default of the other.

    Pydantic replaces a nested default as a whole; ``{"MemoryMi": 300}`` alone would otherwise
    fail for the missing ``CpuMillicores``.
    """
    if not isinstance(data, dict):
        return data
    filled = dict(data)
    for name, info in model.model_fields.items():
        default = info.default
        if not isinstance(default, ResourceAmountSettings):
            continue
        for key in (name, info.alias):
            given = filled.get(key) if key is not None else None
            if isinstance(given, dict):
                merged = dict(given)
                for amount_name, amount_info in ResourceAmountSettings.model_fields.items():
                    if amount_name not in merged and amount_info.alias not in merged:
                        merged[amount_name] = getattr(default, amount_name)
                filled[key] = merged
    return filled


class KubernetesSettings(_Section):
    target_namespace: str = "sandbox-containers"
    runtime_class_name: str = "kata-qemu"
    default_resource_requests: ResourceAmountSettings = ResourceAmountSettings(
        memory_mi=256, cpu_millicores=250
    )
    default_resource_limits: ResourceAmountSettings = ResourceAmountSettings(
        memory_mi=512, cpu_millicores=500
    )
    max_resource_limits: ResourceAmountSettings = ResourceAmountSettings(
        memory_mi=4096, cpu_millicores=2000
    )
    runtime_class_overhead_fallback: ResourceAmountSettings = ResourceAmountSettings(
        memory_mi=160, cpu_millicores=250
    )
    pod_name_prefix: str = "kata-sandbox"
    cleanup_completed_pods: bool = True
    default_ready_timeout_seconds: int = Field(90, gt=0)
    # An hour at most: a create that waits for readiness holds a request open that long.
    max_ready_timeout_seconds: int = Field(600, gt=0, le=3600)
    default_scratch_size_mi: int = Field(1024, gt=0)
    max_scratch_size_mi: int = Field(10240, gt=0)
    # A sandbox's time to live: asked for per create (ttlSeconds) or extended, at most this.
    max_ttl_seconds: int = Field(86400, gt=0)
    # The TTL of a create that asks for none; None: such sandboxes live until deleted.
    default_ttl_seconds: int | None = Field(None, gt=0)
    # Sandbox creations per rolling minute in the namespace, counted from the pods themselves so
    # every replica agrees; None: unlimited.
    max_creations_per_minute: int | None = Field(None, gt=0)
    # Registries (``host[:port]``) or repository prefixes (``host/path``) images may come from;
    # empty: any. Images without a registry are Docker Hub's (``docker.io/library/...``).
    allowed_image_registries: tuple[str, ...] = ()
    kubeconfig_path: Path | None = None

    @model_validator(mode="before")
    @classmethod
    def _partial_amounts(cls, data: Any) -> Any:
        return _fill_partial_amounts(cls, data)

    @field_validator("target_namespace")
    @classmethod
    def _namespace_is_label(cls, value: str) -> str:
        if not is_dns1123_label(value):
            raise ValueError(
                f"{value!r} is not a valid namespace name (a DNS-1123 label: lowercase letters, "
                "digits and '-', starting and ending with a letter or digit, at most 63)"
            )
        return value

    @field_validator("runtime_class_name")
    @classmethod
    def _runtime_class_is_subdomain(cls, value: str) -> str:
        if not is_dns1123_subdomain(value):
            raise ValueError(f"{value!r} is not a valid RuntimeClass name (a DNS-1123 subdomain)")
        return value

    @field_validator("pod_name_prefix")
    @classmethod
    def _prefix_makes_valid_names(cls, value: str) -> str:
        if not is_dns1123_label(value):
            raise ValueError(
                f"{value!r} is not a valid pod name prefix (lowercase letters, digits and '-', "
                "starting and ending with a letter or digit)"
            )
        if len(value) > MAX_POD_NAME_PREFIX_LENGTH:
            raise ValueError(
                f"is {len(value)} characters long; at most {MAX_POD_NAME_PREFIX_LENGTH}, so that "
                "the prefix, '-' and 8 hex digits fit the 63 characters of a DNS-1123 label"
            )
        return value

    @field_validator("allowed_image_registries", mode="before")
    @classmethod
    def _split_registries(cls, value: Any) -> Any:
        return split_list(value)

    @field_validator("allowed_image_registries")
    @classmethod
    def _registries_are_registries(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        normalised = []
        for entry in value:
            host, slash, path = entry.strip().rstrip("/").partition("/")
            candidate = host.lower() + slash + path
            if not _REGISTRY_PREFIX.fullmatch(candidate):
                raise ValueError(
                    f"{entry!r} is not a registry: expected host[:port] or host[:port]/path, "
                    "e.g. ghcr.io or registry.example:5000/team"
                )
            normalised.append(candidate)
        return tuple(normalised)

    @field_validator("kubeconfig_path")
    @classmethod
    def _kubeconfig_exists(cls, value: Path | None) -> Path | None:
        if value is None:
            return None
        expanded = value.expanduser()
        if not expanded.is_file():
            raise ValueError(f"{str(value)!r} is not a readable file")
        return expanded

    @model_validator(mode="after")
    def _amounts_are_ordered(self) -> Self:
        for amount_name, amount_info in ResourceAmountSettings.model_fields.items():
            unit = amount_info.alias
            request = getattr(self.default_resource_requests, amount_name)
            limit = getattr(self.default_resource_limits, amount_name)
            maximum = getattr(self.max_resource_limits, amount_name)
            if request > limit:
                raise InconsistentSetting(
                    f"DefaultResourceRequests.{unit}",
                    f"{request} exceeds DefaultResourceLimits.{unit} ({limit})",
                )
            if limit > maximum:
                raise InconsistentSetting(
                    f"DefaultResourceLimits.{unit}",
                    f"{limit} exceeds MaxResourceLimits.{unit} ({maximum})",
                )
        if self.default_ready_timeout_seconds > self.max_ready_timeout_seconds:
            raise InconsistentSetting(
                "DefaultReadyTimeoutSeconds",
                f"{self.default_ready_timeout_seconds} exceeds MaxReadyTimeoutSeconds "
                f"({self.max_ready_timeout_seconds})",
            )
        if self.default_scratch_size_mi > self.max_scratch_size_mi:
            raise InconsistentSetting(
                "DefaultScratchSizeMi",
                f"{self.default_scratch_size_mi} exceeds MaxScratchSizeMi "
                f"({self.max_scratch_size_mi})",
            )
        if self.default_ttl_seconds is not None and self.default_ttl_seconds > self.max_ttl_seconds:
            raise InconsistentSetting(
                "DefaultTtlSeconds",
                f"{self.default_ttl_seconds} exceeds MaxTtlSeconds ({self.max_ttl_seconds})",
            )
        return self


def split_list(value: Any) -> Any:
    """From the environment a list arrives as one string: JSON or comma-separated."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            return json.loads(text)
        return [part.strip() for part in text.split(",") if part.strip()]
    return value


def _is_origin(value: str) -> bool:
    scheme, separator, authority = value.partition("://")
    return (
        separator != ""
        and scheme in ("http", "https")
        and authority != ""
        and not any(c in authority for c in "/?#@ ")
    )


class ServerSettings(_Section):
    log_level: str = "INFO"
    # "json": one JSON object per line (app.observability.logs); "text" for a terminal.
    log_format: str = "json"
    # SIGTERM to exit: subscriptions drained, requests in flight finished, then cut off. Keep it
    # below the pod's terminationGracePeriodSeconds (30 in manifests/), or the kubelet kills first.
    shutdown_timeout_seconds: float = Field(25.0, gt=0, le=3600)
    allowed_websocket_origins: tuple[str, ...] = ()
    default_page_size: int = Field(50, gt=0)
    max_page_size: int = Field(200, gt=0, le=1000)
    # The API tokens file (app.auth.tokens); the environment variable API_TOKENS_PATH sets it
    # too. It may appear after startup (an optional Secret): until then every request is refused.
    api_tokens_path: Path | None = None
    # Development only: no authentication, every request acts as an admin (a WARNING at startup).
    auth_disabled: bool = False
    # A larger HTTP body is refused with 413, a larger websocket message closes the socket (1009).
    max_request_body_bytes: int = Field(512 * 1024, ge=4096, le=16 * 1024 * 1024)
    # Sandboxes (not yet deleted) one tenant may have; None: unlimited.
    max_sandboxes_per_tenant: int | None = Field(50, gt=0)
    # Subscriptions one tenant may have open on one replica at a time; None: unlimited.
    max_subscriptions_per_tenant: int | None = Field(100, gt=0)

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        if value.upper() not in LOG_LEVELS:
            raise ValueError(f"{value!r} is not one of {', '.join(LOG_LEVELS)}")
        return value.upper()

    @field_validator("log_format")
    @classmethod
    def _known_format(cls, value: str) -> str:
        if value.lower() not in LOG_FORMATS:
            raise ValueError(f"{value!r} is not one of {', '.join(LOG_FORMATS)}")
        return value.lower()

    @field_validator("allowed_websocket_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: Any) -> Any:
        return split_list(value)

    @field_validator("allowed_websocket_origins")
    @classmethod
    def _origins_are_origins(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for origin in value:
            if origin != "*" and not _is_origin(origin):
                raise ValueError(
                    f"{origin!r} is not an origin: expected '*' or scheme://host[:port] with "
                    "http or https and no path"
                )
        return tuple(origin.lower() for origin in value)

    @model_validator(mode="after")
    def _page_sizes_are_ordered(self) -> Self:
        if self.default_page_size > self.max_page_size:
            raise InconsistentSetting(
                "DefaultPageSize",
                f"{self.default_page_size} exceeds MaxPageSize ({self.max_page_size})",
            )
        return self
