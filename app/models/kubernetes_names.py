"""The name grammars Kubernetes enforces, as predicates.

They live here, beside the domain values, because every layer needs them: settings check the
namespace and pod-name prefix, validation checks user labels and ConfigMap names, and the label
selector parser checks keys and values. The rules are the apiserver's (apimachinery
``validation.IsDNS1123Label`` and friends), so a value accepted here is not rejected there.

- DNS-1123 label: at most 63 characters, lowercase alphanumerics and '-', starting and ending
  with an alphanumeric. Namespaces and Services use it; it is also a valid hostname.
- DNS-1123 subdomain: at most 253 characters, DNS-1123 labels joined by '.'. Pod, ConfigMap and
  RuntimeClass names use it.
- Qualified name (label and annotation keys): an optional DNS-1123 subdomain prefix and '/',
  then a name of at most 63 characters of alphanumerics, '-', '_' and '.', starting and ending
  with an alphanumeric. Unlike DNS names, upper case is allowed in the name part.
- Label value: empty, or at most 63 characters with the qualified-name charset.
"""

from __future__ import annotations

import re

DNS1123_LABEL_MAX_LENGTH = 63
DNS1123_SUBDOMAIN_MAX_LENGTH = 253
QUALIFIED_NAME_MAX_LENGTH = 63
LABEL_VALUE_MAX_LENGTH = 63

_DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", re.ASCII)
_DNS1123_SUBDOMAIN = re.compile(
    r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*", re.ASCII
)
_QUALIFIED_NAME_PART = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]", re.ASCII)


def is_dns1123_label(value: str) -> bool:
    return len(value) <= DNS1123_LABEL_MAX_LENGTH and _DNS1123_LABEL.fullmatch(value) is not None


def is_dns1123_subdomain(value: str) -> bool:
    return (
        len(value) <= DNS1123_SUBDOMAIN_MAX_LENGTH
        and _DNS1123_SUBDOMAIN.fullmatch(value) is not None
    )


def split_qualified_name(key: str) -> tuple[str | None, str]:
    """Split ``prefix/name`` into its parts; a key without '/' has no prefix."""
    prefix, slash, name = key.rpartition("/")
    return (prefix, name) if slash else (None, key)


def is_qualified_name(key: str) -> bool:
    """Whether ``key`` is a valid label or annotation key."""
    if key.count("/") > 1:
        return False
    prefix, name = split_qualified_name(key)
    if prefix is not None and not is_dns1123_subdomain(prefix):
        return False
    return (
        len(name) <= QUALIFIED_NAME_MAX_LENGTH and _QUALIFIED_NAME_PART.fullmatch(name) is not None
    )


def is_label_value(value: str) -> bool:
    return value == "" or (
        len(value) <= LABEL_VALUE_MAX_LENGTH and _QUALIFIED_NAME_PART.fullmatch(value) is not None
    )
