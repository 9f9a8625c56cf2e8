"""How this service marks the pods it owns, and which label keys users may not set.

Every sandbox pod carries ``app=kata-sandbox``, ``runtime=kata`` and
``managed-by=kata-sandbox-api``. ``MANAGED_POD_SELECTOR`` selects them: the informer watches only
these, and list, delete and cleanup never touch another pod in the namespace, even one that a
person created there by hand.

The creation time is an annotation, not a label: a label value is at most 63 characters of
``[A-Za-z0-9_.-]``, so an ISO-8601 timestamp (with ':' and '+') is rejected by the apiserver.
Annotation values are free text.

These names live in the kube layer because both directions of the pod mapping need them: the
manifest builder above writes them, the converter and informer here read them.
"""

from __future__ import annotations

from app.models.kubernetes_names import split_qualified_name

APP_LABEL = "app"
APP_LABEL_VALUE = "kata-sandbox"
RUNTIME_LABEL = "runtime"
RUNTIME_LABEL_VALUE = "kata"
MANAGED_BY_LABEL = "managed-by"
MANAGED_BY_LABEL_VALUE = "kata-sandbox-api"

OWNED_LABELS: dict[str, str] = {
    APP_LABEL: APP_LABEL_VALUE,
    RUNTIME_LABEL: RUNTIME_LABEL_VALUE,
    MANAGED_BY_LABEL: MANAGED_BY_LABEL_VALUE,
}

# runtime=kata is left out on purpose: app and managed-by already identify our pods.
MANAGED_POD_SELECTOR = f"{APP_LABEL}={APP_LABEL_VALUE},{MANAGED_BY_LABEL}={MANAGED_BY_LABEL_VALUE}"

# The key prefix this service owns for its own labels and annotations.
SERVICE_KEY_PREFIX = "kata-sandbox-api"
CREATED_AT_ANNOTATION = f"{SERVICE_KEY_PREFIX}/created-at"
# When the sandbox's TTL ends (same format as created-at); rewritten by an extension.
EXPIRES_AT_ANNOTATION = f"{SERVICE_KEY_PREFIX}/expires-at"
# Why the reaper deletes the pod (EXPIRED, COMPLETED, STUCK), written just before the delete so
# the last states every watcher sees carry it. No annotation on a deleted pod: USER.
DELETION_REASON_ANNOTATION = f"{SERVICE_KEY_PREFIX}/deletion-reason"
# Idempotent create: the key as given (annotation), a hash of it (label: selectable, and label
# values cannot hold arbitrary text) and a hash of the spec it was used with (annotation).
IDEMPOTENCY_KEY_ANNOTATION = f"{SERVICE_KEY_PREFIX}/idempotency-key"
IDEMPOTENCY_KEY_HASH_LABEL = f"{SERVICE_KEY_PREFIX}/idempotency-key-hash"
SPEC_HASH_ANNOTATION = f"{SERVICE_KEY_PREFIX}/spec-hash"
# The tenant owning the sandbox: that of the API token that created it (app.auth). Under the
# service's prefix, so no user can set it (is_reserved_label_key); absent with auth disabled.
TENANT_LABEL = f"{SERVICE_KEY_PREFIX}/tenant"

SANDBOX_CONTAINER_NAME = "sandbox"

# kubernetes.io and k8s.io (and their subdomains) belong to Kubernetes' own components;
# app.kubernetes.io is the exception, meant for the recommended labels of applications.
_RESERVED_PREFIX_DOMAINS = (SERVICE_KEY_PREFIX, "kubernetes.io", "k8s.io")
_USER_ALLOWED_PREFIXES = frozenset({"app.kubernetes.io"})


def is_reserved_label_key(key: str) -> bool:
    """Whether a user-supplied label key collides with what this service or Kubernetes owns."""
    if key in OWNED_LABELS:
        return True
    prefix, _ = split_qualified_name(key)
    if prefix is None or prefix in _USER_ALLOWED_PREFIXES:
        return False
    return any(
        prefix == domain or prefix.endswith("." + domain) for domain in _RESERVED_PREFIX_DOMAINS
    )
