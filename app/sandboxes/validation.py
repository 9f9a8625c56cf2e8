"""Checks on a ``SandboxSpec`` before anything reaches the apiserver.

Each failure is a ``BadUserInput`` whose ``field`` is the GraphQL input path of the offending
value (``input.labels[2].key``, ``input.resources.limits.memoryMi``), so a form can put the
message next to the right control. The first failure wins; checks run in input order.

The rules are the apiserver's where it has them (label grammar, ConfigMap names, env names), so
a spec that passes is not rejected later with a less helpful 422, plus the service's own limits
(resource maximums, mount paths that would break the container, sizes of command and env).

Image references follow the registry grammar (distribution ``reference``)::

    reference := name [":" tag] ["@" digest]
    name      := [domain "/"] path-component ("/" path-component)*
    domain    := host [":" port]         (host: DNS name, or an IPv6 address in brackets)
    path-component := [a-z0-9]+ (([._]|__|-+) [a-z0-9]+)*
    tag       := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
    digest    := "sha256:" 64 hex | "sha512:" 128 hex

As in Docker, the first component is a registry only if it contains '.' or ':' or is
``localhost``; otherwise it is a lowercase path component (``Library/x`` is refused).

With ``Kubernetes.AllowedImageRegistries`` set, an image must also come from one of those
registries or repository prefixes (``image_repository`` spells Docker Hub's short names out).
Free text (command, args, env values) may hold anything but NUL and lone surrogates.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from app.config import KubernetesSettings
from app.kube.ownership import is_reserved_label_key
from app.models.errors import BadUserInput
from app.models.kubernetes_names import is_dns1123_subdomain, is_label_value, is_qualified_name
from app.models.resources import ResourceAmounts
from app.models.spec import SandboxSpec
from app.sandboxes.label_selector import compile_label_selector, parse_label_selector

__all__ = [
    "compile_label_selector",
    "image_repository",
    "is_allowed_registry",
    "normalise_mount_path",
    "parse_label_selector",
    "validate_spec",
]

MAX_IMAGE_NAME_LENGTH = 255
MAX_COMMAND_ITEMS = 64
MAX_COMMAND_BYTES = 32 * 1024
MAX_ENV_VARS = 128
MAX_ENV_BYTES = 64 * 1024
MAX_LABELS = 32
MAX_CONFIG_MAPS = 16
MAX_MOUNT_PATH_LENGTH = 1024
# Idempotency keys are typically UUIDs; this leaves room for composite keys.
MAX_IDEMPOTENCY_KEY_LENGTH = 256
DOCKER_HUB = "docker.io"
DOCKER_HUB_ALIASES = {"index.docker.io": DOCKER_HUB, "registry-1.docker.io": DOCKER_HUB}
# Kernel interfaces: mounting over them breaks the container or is refused by the runtime.
FORBIDDEN_MOUNT_ROOTS = ("/proc", "/sys", "/dev")
# Files the kubelet writes into every container; a mount there hides them.
FORBIDDEN_MOUNT_PATHS = frozenset({"/etc/hosts", "/etc/hostname", "/etc/resolv.conf"})

_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_HOST = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])"
_IMAGE_REFERENCE = re.compile(
    rf"(?P<name>(?:(?P<domain>{_HOST}(?::[0-9]+)?)/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?"
    r"(?:@(?P<digest>sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128}))?",
    re.ASCII,
)
_ENV_NAME = re.compile(r"[-._a-zA-Z][-._a-zA-Z0-9]*", re.ASCII)
_PATH_COMPONENT_ONLY = re.compile(_PATH_COMPONENT, re.ASCII)


def _looks_like_registry(component: str) -> bool:
    return "." in component or ":" in component or component == "localhost"


def is_image_reference(image: str) -> bool:
    match = _IMAGE_REFERENCE.fullmatch(image)
    if match is None or len(match["name"]) > MAX_IMAGE_NAME_LENGTH:
        return False
    domain = match["domain"]
    # The regex lets any first component be a host; Docker only treats it as one when it
    # looks like one, and otherwise it must be a lowercase path component.
    return (
        domain is None
        or _looks_like_registry(domain)
        or bool(_PATH_COMPONENT_ONLY.fullmatch(domain))
    )


def image_repository(image: str) -> str:
    """The repository of a valid image reference, spelt out: ``busybox`` is
    ``docker.io/library/busybox``, ``ghcr.io/org/x:1`` is ``ghcr.io/org/x``."""
    match = _IMAGE_REFERENCE.fullmatch(image)
    if match is None:
        raise ValueError(f"{image!r} is not an image reference")
    name, domain = match["name"], match["domain"]
    if domain is None or not _looks_like_registry(domain):
        domain, path = DOCKER_HUB, name
    else:
        path = name[len(domain) + 1 :]
        domain = domain.lower()
    domain = DOCKER_HUB_ALIASES.get(domain, domain)
    if domain == DOCKER_HUB and "/" not in path:
        path = f"library/{path}"
    return f"{domain}/{path}"


def is_allowed_registry(image: str, allowed: Iterable[str]) -> bool:
    """Whether the image's repository is, or lies under, one of ``allowed`` (whole components:
    ``ghcr.io/org`` allows ``ghcr.io/org/x``, not ``ghcr.io/organisation/x``)."""
    repository = image_repository(image)
    for entry in allowed:
        host, slash, path = entry.partition("/")
        prefix = DOCKER_HUB_ALIASES.get(host, host) + slash + path
        if repository == prefix or repository.startswith(prefix + "/"):
            return True
    return False


def normalise_mount_path(path: str) -> str:
    """``/data//x/./`` → ``/data/x``; the caller has checked the path is absolute."""
    return "/" + "/".join(part for part in path.split("/") if part not in ("", "."))


def _check_image(image: str, field: str, allowed: tuple[str, ...]) -> None:
    if not is_image_reference(image):
        raise BadUserInput(
            f"{image!r} is not a valid image reference: expected "
            "[registry[:port]/]path[:tag][@sha256:<64 hex digits>] with a lowercase path",
            field=field,
        )
    if allowed and not is_allowed_registry(image, allowed):
        raise BadUserInput(
            f"images from {image_repository(image)!r} are not allowed here; allowed "
            f"registries: {', '.join(allowed)}",
            field=field,
        )


def _check_text(texts: Iterable[str], field: str) -> None:
    """Free text (args, env values) may hold anything a process can receive: not NUL, which
    ends a C string (execve cannot pass it), nor a lone UTF-16 surrogate (no UTF-8 for it)."""
    for index, text in enumerate(texts):
        if "\x00" in text:
            raise BadUserInput("must not contain NUL characters", field=field.format(index))
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise BadUserInput(
                "must be valid Unicode (no lone surrogates)", field=field.format(index)
            ) from None


def _check_command(items: tuple[str, ...] | None, field: str) -> None:
    if items is not None and len(items) > MAX_COMMAND_ITEMS:
        raise BadUserInput(f"at most {MAX_COMMAND_ITEMS} items are allowed", field=field)
    _check_text(items or (), field + "[{}]")


def _utf8_size(texts: Iterable[str]) -> int:
    return sum(len(text.encode("utf-8", "surrogatepass")) for text in texts)


def _check_env(spec: SandboxSpec, prefix: str) -> None:
    if len(spec.env) > MAX_ENV_VARS:
        raise BadUserInput(
            f"at most {MAX_ENV_VARS} environment variables are allowed", field=f"{prefix}.env"
        )
    first_index: dict[str, int] = {}
    for index, variable in enumerate(spec.env):
        field = f"{prefix}.env[{index}].name"
        if not _ENV_NAME.fullmatch(variable.name):
            raise BadUserInput(
                f"{variable.name!r} is not a valid environment variable name: letters, digits, "
                "'_', '-' and '.', not starting with a digit",
                field=field,
            )
        if variable.name in first_index:
            raise BadUserInput(
                f"environment variable {variable.name!r} is already set by "
                f"{prefix}.env[{first_index[variable.name]}]",
                field=field,
            )
        first_index[variable.name] = index
        _check_text((variable.value,), f"{prefix}.env[{index}].value")
    if _utf8_size(text for v in spec.env for text in (v.name, v.value)) > MAX_ENV_BYTES:
        raise BadUserInput(
            f"environment variables exceed {MAX_ENV_BYTES} bytes in total", field=f"{prefix}.env"
        )


def _check_labels(spec: SandboxSpec, prefix: str) -> None:
    if len(spec.labels) > MAX_LABELS:
        raise BadUserInput(f"at most {MAX_LABELS} labels are allowed", field=f"{prefix}.labels")
    first_index: dict[str, int] = {}
    for index, label in enumerate(spec.labels):
        key_field = f"{prefix}.labels[{index}].key"
        if not is_qualified_name(label.key):
            raise BadUserInput(
                f"{label.key!r} is not a valid label key: an optional DNS subdomain prefix and "
                "'/', then at most 63 letters, digits, '-', '_' or '.', starting and ending with "
                "a letter or digit",
                field=key_field,
            )
        if is_reserved_label_key(label.key):
            raise BadUserInput(
                f"label key {label.key!r} is reserved for the service or for Kubernetes",
                field=key_field,
            )
        if label.key in first_index:
            raise BadUserInput(
                f"label {label.key!r} is already set by {prefix}.labels[{first_index[label.key]}]",
                field=key_field,
            )
        first_index[label.key] = index
        if not is_label_value(label.value):
            raise BadUserInput(
                f"{label.value!r} is not a valid label value: at most 63 letters, digits, '-', "
                "'_' or '.', starting and ending with a letter or digit, or empty",
                field=f"{prefix}.labels[{index}].value",
            )


def _check_amounts(amounts: ResourceAmounts, maximum: ResourceAmounts, field: str) -> None:
    for value, limit, name in (
        (amounts.memory_mi, maximum.memory_mi, "memoryMi"),
        (amounts.cpu_millicores, maximum.cpu_millicores, "cpuMillicores"),
    ):
        if value is None:
            continue
        if value <= 0:
            raise BadUserInput("must be a positive number", field=f"{field}.{name}")
        if limit is not None and value > limit:
            raise BadUserInput(
                f"{value} exceeds the maximum of {limit} per sandbox", field=f"{field}.{name}"
            )


def _check_resources(spec: SandboxSpec, settings: KubernetesSettings, prefix: str) -> None:
    field = f"{prefix}.resources"
    maximum = ResourceAmounts(
        memory_mi=settings.max_resource_limits.memory_mi,
        cpu_millicores=settings.max_resource_limits.cpu_millicores,
    )
    requests, limits = spec.resources.requests, spec.resources.limits
    _check_amounts(requests, maximum, f"{field}.requests")
    _check_amounts(limits, maximum, f"{field}.limits")
    for request, limit, name in (
        (requests.memory_mi, limits.memory_mi, "memoryMi"),
        (requests.cpu_millicores, limits.cpu_millicores, "cpuMillicores"),
    ):
        if request is not None and limit is not None and request > limit:
            raise BadUserInput(
                f"the request ({request}) exceeds the limit ({limit})",
                field=f"{field}.requests.{name}",
            )


def _check_mount_path(path: str, field: str, seen: dict[str, str]) -> None:
    if not path.startswith("/"):
        raise BadUserInput(f"{path!r} is not an absolute path", field=field)
    if len(path) > MAX_MOUNT_PATH_LENGTH or any(ord(c) < 0x20 or c == "\x7f" for c in path):
        raise BadUserInput("the path is too long or contains control characters", field=field)
    if ".." in path.split("/"):
        raise BadUserInput(f"{path!r} must not contain '..'", field=field)
    normalised = normalise_mount_path(path)
    if normalised == "/":
        raise BadUserInput("cannot mount over the root directory", field=field)
    for root in FORBIDDEN_MOUNT_ROOTS:
        if normalised == root or normalised.startswith(root + "/"):
            raise BadUserInput(f"cannot mount under {root}", field=field)
    if normalised in FORBIDDEN_MOUNT_PATHS:
        raise BadUserInput(f"{normalised} is managed by Kubernetes", field=field)
    if normalised in seen:
        raise BadUserInput(f"{normalised} is already mounted by {seen[normalised]}", field=field)
    seen[normalised] = field


def _check_volumes(spec: SandboxSpec, settings: KubernetesSettings, prefix: str) -> None:
    seen: dict[str, str] = {}
    if spec.scratch is not None:
        _check_mount_path(spec.scratch.mount_path, f"{prefix}.scratch.mountPath", seen)
        size = spec.scratch.size_limit_mi
        if size is not None and not 0 < size <= settings.max_scratch_size_mi:
            raise BadUserInput(
                f"must be between 1 and {settings.max_scratch_size_mi}",
                field=f"{prefix}.scratch.sizeLimitMi",
            )
    if len(spec.config_maps) > MAX_CONFIG_MAPS:
        raise BadUserInput(
            f"at most {MAX_CONFIG_MAPS} ConfigMaps can be mounted", field=f"{prefix}.configMaps"
        )
    for index, config_map in enumerate(spec.config_maps):
        field = f"{prefix}.configMaps[{index}]"
        if not is_dns1123_subdomain(config_map.name):
            raise BadUserInput(
                f"{config_map.name!r} is not a valid ConfigMap name (lowercase letters, digits, "
                "'-' and '.', at most 253)",
                field=f"{field}.name",
            )
        _check_mount_path(config_map.mount_path, f"{field}.mountPath", seen)


def validate_spec(
    spec: SandboxSpec, settings: KubernetesSettings, *, prefix: str = "input"
) -> None:
    """Raise ``BadUserInput`` for the first problem in ``spec``; ``prefix`` starts each path."""
    _check_image(spec.image, f"{prefix}.image", settings.allowed_image_registries)
    _check_command(spec.command, f"{prefix}.command")
    _check_command(spec.args, f"{prefix}.args")
    if _utf8_size((*(spec.command or ()), *(spec.args or ()))) > MAX_COMMAND_BYTES:
        raise BadUserInput(
            f"command and args exceed {MAX_COMMAND_BYTES} bytes in total", field=f"{prefix}.args"
        )
    _check_env(spec, prefix)
    _check_labels(spec, prefix)
    _check_resources(spec, settings, prefix)
    _check_volumes(spec, settings, prefix)
    timeout = spec.ready_timeout_seconds
    if timeout is not None and not 0 < timeout <= settings.max_ready_timeout_seconds:
        raise BadUserInput(
            f"must be between 1 and {settings.max_ready_timeout_seconds} seconds",
            field=f"{prefix}.readyTimeoutSeconds",
        )
    ttl = spec.ttl_seconds
    if ttl is not None and not 0 < ttl <= settings.max_ttl_seconds:
        raise BadUserInput(
            f"must be between 1 and {settings.max_ttl_seconds} seconds",
            field=f"{prefix}.ttlSeconds",
        )
    _check_idempotency_key(spec.idempotency_key, f"{prefix}.idempotencyKey")


def _check_idempotency_key(key: str | None, field: str) -> None:
    if key is None:
        return
    if not 0 < len(key) <= MAX_IDEMPOTENCY_KEY_LENGTH:
        raise BadUserInput(
            f"must be 1 to {MAX_IDEMPOTENCY_KEY_LENGTH} characters long", field=field
        )
    if not key.isprintable():
        raise BadUserInput("must not contain control characters", field=field)
